import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with [REDACTED]. Secrets held in config are `Secret` objects that print
 * themselves redacted; these paths cover what arrives from outside (headers, bodies).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.client_secret',
  '*.clientSecret',
  '*.secret',
  '*.access_token',
  '*.token',
  '*.privateKey',
  '*.private_key',
];

export function createLogger(options: { service: string; level: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
