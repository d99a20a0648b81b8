import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import type { AuditPublisher } from '../../audit-log/publisher.ts';
import type { Config } from '../config/index.ts';
import { AppError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ServiceMetrics } from '../metrics.ts';
import type { Secret } from '../secret.ts';
import { auditDeniedResponses } from '../../audit-log/request-events.ts';
import { whenDone } from './answered.ts';
import { corsWhitelist, sameOriginOnly } from './cors.ts';
import { errorHandler, notFoundHandler } from './error-handler.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** X-Request-Id: the client's when well-formed, otherwise a new UUID. */
    id: string;
    /** Logger bound to this request's id. */
    log: Logger;
  }
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/** `/admin` and `/admin/…` are under `/admin`; `/administrator` is not. Compared as Express routes them, case-insensitively. */
function underPrefix(path: string, prefix: string): boolean {
  const lower = path.toLowerCase();
  return lower === prefix || lower.startsWith(`${prefix}/`);
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const READINESS_TIMEOUT_MS = 2000;

function requestContext(logger: Logger, metrics: ServiceMetrics): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.log = logger.child({ requestId: req.id });
    res.setHeader('X-Request-Id', req.id);
    const started = process.hrtime.bigint();
    // Logged once the request has ended: the duration covers sending the answer. A client that hangs
    // up is logged too, with the handler's answer; one left without any answer counts as aborted.
    whenDone(req, res, (ending, at) => {
      // The route template, not the raw path, keeps label cardinality bounded.
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const status = ending === 'abandoned' ? 'aborted' : ending === 'failed' ? 'failed' : String(res.statusCode);
      const labels = { method: req.method, route, status };
      const seconds = Number(at - started) / 1e9;
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      const line = { method: req.method, path: req.path, status: res.headersSent ? res.statusCode : 0, ms: Math.round(seconds * 1e4) / 10 };
      req.log.info(ending === 'delivered' ? line : { ...line, ending }, 'request');
    });
    next();
  };
}

async function runCheck(check: ReadinessCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), READINESS_TIMEOUT_MS);
  });
  try {
    await Promise.race([check.check(), timeout]);
    return 'ok';
  } catch (err) {
    return `unreachable: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /metrics names routes, counts and queue sizes: with METRICS_TOKEN set only a scraper presenting
 * it as a bearer token reads them (compared in constant time). Without a token it stays open, as
 * development needs; production refuses to start without one.
 */
function requireScrapeToken(token: Secret | undefined): RequestHandler {
  const expected = token ? createHash('sha256').update(token.reveal()).digest() : undefined;
  return (req, _res, next) => {
    if (!expected) return next();
    const presented = /^Bearer (\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (presented && timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) return next();
    const challenge = { headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' } };
    next(
      presented
        ? new AppError(401, 'invalid_token', 'The metrics scrape token is not valid', challenge)
        : new AppError(401, 'missing_token', 'A metrics scrape token is required', challenge),
    );
  };
}

/**
 * The Express app every process serves: request id, access log and metrics, CORS whitelist,
 * JSON body limit, /health, /ready, /metrics, then the module's routes and one error handler.
 */
export function createHttpApp(options: {
  config: Config;
  logger: Logger;
  metrics: ServiceMetrics;
  readiness: ReadinessCheck[];
  routes?: (app: Express) => void;
  /** When given, every 401 and 403 answer is published as an audit event. */
  audit?: AuditPublisher;
  /** Path prefixes that get no CORS headers (ServiceOptions.sameOriginOnly). */
  sameOriginOnly?: string[];
}): Express {
  const { config, logger, metrics, readiness } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.http.trustProxy);
  app.use(requestContext(logger, metrics));
  if (options.audit) app.use(auditDeniedResponses(options.audit));
  const corsRejected = () => metrics.corsRejections.inc();
  const cors = corsWhitelist(config.cors, corsRejected);
  const ownOrigin = sameOriginOnly(corsRejected);
  const ownOriginPrefixes = options.sameOriginOnly ?? [];
  // Another origin may not read what a cookie opens, even one the API's CORS whitelist trusts.
  app.use(
    ownOriginPrefixes.length === 0
      ? cors
      : (req, res, next) => (ownOriginPrefixes.some((prefix) => underPrefix(req.path, prefix)) ? ownOrigin : cors)(req, res, next),
  );
  app.use(express.json({ limit: config.http.bodyLimit }));
  app.use(express.urlencoded({ limit: config.http.bodyLimit, extended: false }));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', service: config.service });
  });
  app.get('/ready', async (_req, res) => {
    const results = await Promise.all(readiness.map(async (c) => [c.name, await runCheck(c)] as const));
    const checks = Object.fromEntries(results);
    const failed = results.filter(([, state]) => state !== 'ok').map(([name]) => name);
    if (failed.length === 0) {
      res.json({ status: 'ready', checks });
      return;
    }
    res.status(503).json({ error: { code: 'not_ready' satisfies ErrorCode, message: `Unreachable: ${failed.join(', ')}` }, checks });
  });
  app.get('/metrics', requireScrapeToken(config.http.metricsToken), async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  options.routes?.(app);
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
