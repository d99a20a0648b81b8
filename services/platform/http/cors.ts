import cors from 'cors';
import type { Request, RequestHandler } from 'express';
import type { CorsConfig } from '../config/index.ts';
import { AppError } from '../errors.ts';

export function isOriginAllowed(config: CorsConfig, origin: string): boolean {
  if (config.allowedOrigins.includes('*') || config.allowedOrigins.includes(origin)) return true;
  return config.allowedOriginsRegex?.test(origin) ?? false;
}

/** A CORS preflight: what a browser sends first for another origin's non-simple request. */
const isPreflight = (req: Request) => req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
const originDenied = () => new AppError(403, 'cors_origin_denied', 'Origin is not allowed by the CORS policy');

/**
 * The CORS whitelist every module uses. An allowed origin is echoed back exactly
 * (never `*` with credentials); a disallowed one gets no Access-Control-* header, is counted,
 * and its preflight is refused with a JSON 403 instead of falling through to the router.
 */
export function corsWhitelist(config: CorsConfig, onRejected: (origin: string) => void): RequestHandler {
  const wildcard = config.allowedOrigins.includes('*');
  const handler = cors({
    origin: (origin, callback) => callback(null, wildcard ? '*' : origin),
    credentials: config.allowCredentials,
    methods: config.allowedMethods,
    allowedHeaders: config.allowedHeaders.includes('*') ? undefined : config.allowedHeaders,
    exposedHeaders: config.exposeHeaders,
    maxAge: config.maxAge,
    optionsSuccessStatus: 204,
  });
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined) return next();
    res.vary('Origin');
    if (isOriginAllowed(config, origin)) return handler(req, res, next);
    onRejected(origin);
    if (isPreflight(req)) return next(originDenied());
    next();
  };
}

/**
 * For paths served to this origin's own pages only (ServiceOptions.sameOriginOnly): no CORS header
 * ever, whatever the whitelist says, and a preflight — which only another origin's page sends — is
 * refused as one from an origin off the whitelist is.
 */
export function sameOriginOnly(onRejected: (origin: string) => void): RequestHandler {
  return (req, _res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined || !isPreflight(req)) return next();
    onRejected(origin);
    next(originDenied());
  };
}
