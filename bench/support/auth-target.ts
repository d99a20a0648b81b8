/**
 * A benchmark target: the real query-module runtime (CORS, request id, access log, metrics, error
 * handler, JWKS token verifier) serving one tiny handler twice — once behind bearer-token
 * authentication, once without — so the ratio isolates what authentication costs.
 */
import type { RequestHandler } from 'express';
import { runMain, startService } from '../../services/platform/runtime.ts';

const handler: RequestHandler = (_req, res) => {
  res.json({ ok: true });
};

await runMain('query', (config, options) =>
  startService(config, {
    logger: options.logger,
    routes: (app, deps) => {
      app.get('/bench/plain', handler);
      app.get('/bench/authenticated', deps.auth.require('reader'), handler);
    },
  }),
);
