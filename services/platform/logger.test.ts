import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { loadConfig } from './config/index.ts';
import { createLogger } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, stream };
}

describe('log redaction', () => {
  const secrets = {
    audit: 'AuditKeyValue0123456789abcdefghijklmn',
    jwtKek: 'cd'.repeat(32),
    bootstrap: 'BootstrapSecret0123456789abcdefghijkl',
    dbPassword: 'DbPassword0123456789abcdefghijklmnop',
    bearer: 'eyJhbGciOiJSUzI1NiJ9.payload.signature',
  };

  it('when the config, request headers and credential bodies are logged, then no secret value reaches the output', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ service: 'admin', level: 'info' }, stream);
    const config = loadConfig('admin', {
      DATABASE_URL: `postgresql://artstore:${secrets.dbPassword}@db:5432/artstore`,
      REDIS_URL: 'redis://127.0.0.1:6379/0',
      AUDIT_LOG_SECRET_KEY: `k1:${secrets.audit}`,
      JWT_KEY_ENCRYPTION_KEY: secrets.jwtKek,
      ADMIN_BOOTSTRAP_CLIENT_ID: 'admin-service',
      ADMIN_BOOTSTRAP_CLIENT_SECRET: secrets.bootstrap,
    });
    logger.info({ config }, 'starting');
    logger.info({ req: { headers: { authorization: `Bearer ${secrets.bearer}`, cookie: `session=${secrets.bearer}` } } }, 'request');
    logger.info({ body: { client_id: 'svc', client_secret: secrets.bootstrap }, user: { password: secrets.dbPassword } }, 'token request');
    logger.info({ databaseUrl: config.databaseUrl, key: config.auditKeys[0]?.key }, 'connections');

    const output = lines.join('');
    assert.ok(output.includes('[REDACTED]'));
    assert.ok(output.includes('"client_id":"svc"'), 'non-secret fields stay readable');
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(!output.includes(value), `${name} leaked into the log`);
    }
  });
});
