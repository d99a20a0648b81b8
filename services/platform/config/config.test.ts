import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Env } from './index.ts';

const STRONG = 'Xq3vN8kP2mR7tY4wZ9aB6cD1eF5gH0jK';
const base: Env = {
  DATABASE_URL: `postgresql://artstore:${STRONG}@db:5432/artstore`,
  REDIS_URL: `redis://:${STRONG}@redis:6379/0`,
  AUDIT_LOG_SECRET_KEY: `k1:${STRONG}`,
  JWT_KEY_ENCRYPTION_KEY: 'ab'.repeat(32),
  AUDIT_DIGEST_KEY_ENCRYPTION_KEY: 'cd'.repeat(32),
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'artstore-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('when nothing optional is set, then the documented defaults apply', () => {
    const config = loadConfig('admin', base);
    assert.equal(config.environment, 'development');
    assert.equal(config.http.port, 8000);
    assert.equal(config.bullmqPrefix, 'artstore');
    assert.deepEqual(config.cors.allowedOrigins, ['http://localhost:4200']);
    assert.equal(config.cors.allowCredentials, true);
    assert.deepEqual(config.cors.allowedMethods, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    assert.equal(config.cors.maxAge, 600);
    assert.equal(config.audit.retentionDays, 2555);
    assert.equal(loadConfig('query', base).http.port, 8030);
  });

  it('when a secret is given as NAME_FILE, then the file is read and its trailing newline trimmed', () => {
    const file = join(dir, 'audit_key');
    writeFileSync(file, `k2:${STRONG}\n`);
    const config = loadConfig('audit-writer', { ...base, AUDIT_LOG_SECRET_KEY: undefined, AUDIT_LOG_SECRET_KEY_FILE: file });
    assert.equal(config.auditKeys[0]?.id, 'k2');
    assert.equal(config.auditKeys[0]?.key.reveal(), STRONG);
  });

  it('when the database URL comes from a file, then it is used as given', () => {
    const file = join(dir, 'database_url');
    writeFileSync(file, `postgresql://u:${STRONG}@elsewhere:5433/x\n`);
    const config = loadConfig('query', { ...base, DATABASE_URL: undefined, DATABASE_URL_FILE: file });
    assert.equal(config.databaseUrl.reveal(), `postgresql://u:${STRONG}@elsewhere:5433/x`);
  });

  it('when DATABASE_URL is absent, then it is built from POSTGRES_* with the password file', () => {
    const file = join(dir, 'postgres_password');
    writeFileSync(file, `${STRONG}\n`);
    const config = loadConfig('query', { ...base, DATABASE_URL: undefined, POSTGRES_HOST: 'postgres', POSTGRES_PASSWORD_FILE: file });
    assert.equal(config.databaseUrl.reveal(), `postgresql://artstore:${STRONG}@postgres:5432/artstore`);
  });

  it('when both NAME and NAME_FILE are set, then start-up fails naming the variable', () => {
    const file = join(dir, 'both');
    writeFileSync(file, STRONG);
    const err = configError(() => loadConfig('admin', { ...base, AUDIT_LOG_SECRET_KEY_FILE: file }));
    assert.equal(err.variable, 'AUDIT_LOG_SECRET_KEY');
    assert.match(err.message, /both AUDIT_LOG_SECRET_KEY and AUDIT_LOG_SECRET_KEY_FILE/);
  });

  it('when a NAME_FILE path is missing, then start-up fails naming the path', () => {
    const missing = join(dir, 'no-such-secret');
    const err = configError(() => loadConfig('admin', { ...base, JWT_KEY_ENCRYPTION_KEY: undefined, JWT_KEY_ENCRYPTION_KEY_FILE: missing }));
    assert.equal(err.variable, 'JWT_KEY_ENCRYPTION_KEY_FILE');
    assert.ok(err.message.includes(missing));
    assert.match(err.message, /ENOENT/);
  });

  it('when a NAME_FILE is unreadable, then start-up fails naming the path', () => {
    if (process.getuid?.() === 0) {
      // root reads any file regardless of mode; a directory is unreadable as a file for everyone.
      const err = configError(() => loadConfig('admin', { ...base, JWT_KEY_ENCRYPTION_KEY: undefined, JWT_KEY_ENCRYPTION_KEY_FILE: dir }));
      assert.ok(err.message.includes(dir));
      return;
    }
    const file = join(dir, 'locked');
    writeFileSync(file, STRONG);
    chmodSync(file, 0o000);
    const err = configError(() => loadConfig('admin', { ...base, JWT_KEY_ENCRYPTION_KEY: undefined, JWT_KEY_ENCRYPTION_KEY_FILE: file }));
    assert.ok(err.message.includes(file));
  });

  it('when a process needs a key that is not set, then start-up fails naming it', () => {
    const err = configError(() => loadConfig('audit-writer', { ...base, AUDIT_LOG_SECRET_KEY: undefined }));
    assert.equal(err.variable, 'AUDIT_LOG_SECRET_KEY');
    assert.doesNotThrow(() => loadConfig('query', { ...base, AUDIT_LOG_SECRET_KEY: undefined, JWT_KEY_ENCRYPTION_KEY: undefined }));
  });

  it('when the audit digest key-encryption key is missing, reused or malformed, then only the processes that sign digests refuse to start', () => {
    const without = { ...base, AUDIT_DIGEST_KEY_ENCRYPTION_KEY: undefined };
    for (const service of ['audit-writer', 'maintenance'] as const) {
      assert.equal(configError(() => loadConfig(service, without)).variable, 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY', service);
    }
    assert.equal(loadConfig('admin', without).auditDigestKeyEncryptionKey, undefined, 'admin publishes digest keys without decrypting them');
    const reused = configError(() => loadConfig('maintenance', { ...base, AUDIT_DIGEST_KEY_ENCRYPTION_KEY: base.JWT_KEY_ENCRYPTION_KEY }));
    assert.deepEqual([reused.variable, /must differ from JWT_KEY_ENCRYPTION_KEY/.test(reused.message)], ['AUDIT_DIGEST_KEY_ENCRYPTION_KEY', true]);
    const placeholder = configError(() => loadConfig('audit-writer', { ...base, AUDIT_DIGEST_KEY_ENCRYPTION_KEY: 'REPLACE_WITH_64_HEX_CHARS' }));
    assert.match(placeholder.message, /placeholder/);
    const silence = configError(() => loadConfig('audit-writer', { ...base, AUDIT_DIGEST_EVERY_MS: '60000', AUDIT_DIGEST_MAX_SILENCE_MS: '1000' }));
    assert.equal(silence.variable, 'AUDIT_DIGEST_MAX_SILENCE_MS');
  });

  it('when a value is malformed, then the error names its variable', () => {
    assert.equal(configError(() => loadConfig('admin', { ...base, PORT: 'eighty' })).variable, 'PORT');
    assert.equal(configError(() => loadConfig('admin', { ...base, ENVIRONMENT: 'prod' })).variable, 'ENVIRONMENT');
    assert.equal(configError(() => loadConfig('admin', { ...base, REDIS_URL: 'http://redis' })).variable, 'REDIS_URL');
    assert.equal(configError(() => loadConfig('admin', { ...base, JWT_KEY_ENCRYPTION_KEY: 'z'.repeat(64) })).variable, 'JWT_KEY_ENCRYPTION_KEY');
    assert.equal(configError(() => loadConfig('admin', { ...base, CORS_MAX_AGE: '-1' })).variable, 'CORS_MAX_AGE');
    assert.equal(configError(() => loadConfig('admin', { ...base, DATABASE_URL: undefined })).variable, 'DATABASE_URL');
  });

  it('when AUTH_THROTTLE_PER_ADDRESS_NETWORKS holds anything but IPv6 CIDRs, then start-up names it; valid ones reach the throttle', () => {
    for (const networks of ['2600:1f14::', '10.0.0.0/8', '2600:1f14::/129', 'pods'])
      assert.equal(
        configError(() => loadConfig('admin', { ...base, AUTH_THROTTLE_PER_ADDRESS_NETWORKS: networks })).variable,
        'AUTH_THROTTLE_PER_ADDRESS_NETWORKS',
        networks,
      );
    const { perAddressNetworks } = loadConfig('admin', { ...base, AUTH_THROTTLE_PER_ADDRESS_NETWORKS: '2600:1f14:abc:100::/56, fd00::/8' }).identity.throttle;
    assert.deepEqual(
      perAddressNetworks.map(([address, bits]) => `${address.toString()}/${bits}`),
      ['2600:1f14:abc:100::/56', 'fd00::/8'],
    );
  });

  it('when AUDIT_CHAINS is outside 1 to 64, then start-up names it; within, the writer gets that many chains', () => {
    for (const chains of ['0', '65', 'two'])
      assert.equal(configError(() => loadConfig('audit-writer', { ...base, AUDIT_CHAINS: chains })).variable, 'AUDIT_CHAINS');
    assert.equal(loadConfig('audit-writer', { ...base, AUDIT_CHAINS: '3' }).audit.chains, 3);
  });

  it('when several values are malformed, then one error lists each with its variable and names the first', () => {
    const err = configError(() => loadConfig('admin', { ...base, ENVIRONMENT: 'prod', PORT: 'eighty', CORS_MAX_AGE: '-1', JWT_ALGORITHM: 'HS256' }));
    assert.equal(err.variable, 'ENVIRONMENT');
    assert.deepEqual(
      err.problems.map((p) => p.variable),
      ['ENVIRONMENT', 'PORT', 'CORS_MAX_AGE', 'JWT_ALGORITHM'],
    );
    for (const line of [
      'ENVIRONMENT: must be one of',
      'PORT: must be a whole number',
      'CORS_MAX_AGE: must be a whole number',
      'JWT_ALGORITHM: must be one of',
    ]) {
      assert.ok(err.message.includes(line), `"${line}" missing from:\n${err.message}`);
    }
  });

  it('when a key file cannot be read, then only the file is reported, not the key as missing too', () => {
    const err = configError(() => loadConfig('maintenance', { ...base, AUDIT_LOG_SECRET_KEY: undefined, AUDIT_LOG_SECRET_KEY_FILE: join(dir, 'absent') }));
    assert.deepEqual(
      err.problems.map((p) => p.variable),
      ['AUDIT_LOG_SECRET_KEY_FILE'],
    );
  });

  it("when only one of a service account's client id and secret is given, then start-up names the missing one", () => {
    assert.equal(configError(() => loadConfig('admin', { ...base, ADMIN_BOOTSTRAP_CLIENT_ID: 'admin-service' })).variable, 'ADMIN_BOOTSTRAP_CLIENT_SECRET');
    assert.equal(configError(() => loadConfig('admin', { ...base, ADMIN_BOOTSTRAP_CLIENT_SECRET: STRONG })).variable, 'ADMIN_BOOTSTRAP_CLIENT_ID');
    assert.equal(configError(() => loadConfig('query', { ...base, STORAGE_CLIENT_SECRET: STRONG })).variable, 'STORAGE_CLIENT_ID');
    assert.equal(
      configError(() => loadConfig('admin', { ...base, ADMIN_BOOTSTRAP_CLIENT_ID: 'Admin!', ADMIN_BOOTSTRAP_CLIENT_SECRET: STRONG })).variable,
      'ADMIN_BOOTSTRAP_CLIENT_ID',
    );
  });

  it('when the key encryption key is valid, then config carries it as the 32-byte AES key', () => {
    const kek = loadConfig('admin', base).jwtKeyEncryptionKey;
    assert.equal(kek?.symmetricKeySize, 32);
    assert.equal(kek?.export().toString('hex'), 'ab'.repeat(32));
  });

  describe('in production', () => {
    const prod: Env = {
      ...base,
      ENVIRONMENT: 'production',
      CORS_ALLOWED_ORIGINS: 'https://app.artstore.example.com',
      METRICS_TOKEN: 'm3tr1cs-scrape-token-0123456789abcdef',
    };

    it('when every secret is strong, then start-up succeeds', () => {
      assert.equal(loadConfig('admin', prod).environment, 'production');
    });

    it('when no metrics scrape token is given, then every process refuses to start; a weak one is refused too', () => {
      for (const service of ['admin', 'query', 'audit-writer'] as const) {
        const err = configError(() => loadConfig(service, { ...prod, METRICS_TOKEN: undefined }));
        assert.equal(err.variable, 'METRICS_TOKEN');
        assert.match(err.message, /required in production/);
      }
      assert.match(configError(() => loadConfig('query', { ...prod, METRICS_TOKEN: 'short' })).message, /shorter than 32/);
      assert.equal(loadConfig('query', { ...base, METRICS_TOKEN: undefined }).http.metricsToken, undefined, 'development may leave /metrics open');
    });

    for (const placeholder of ['REPLACE_WITH_STRONG_RANDOM_KEY_32_CHARS', 'CHANGE_THIS_TO_STRONG_RANDOM_KEY_32_CHARS', 'changeme-changeme-changeme-changeme']) {
      it(`when a secret still holds the placeholder "${placeholder.slice(0, 12)}…", then start-up refuses it`, () => {
        const err = configError(() => loadConfig('admin', { ...prod, AUDIT_LOG_SECRET_KEY: `k1:${placeholder}` }));
        assert.match(err.message, /placeholder/);
        assert.match(err.variable, /AUDIT_LOG_SECRET_KEY/);
      });
    }

    it('when a placeholder hides in a URL password, then start-up refuses it', () => {
      const err = configError(() =>
        loadConfig('admin', { ...prod, DATABASE_URL: 'postgresql://artstore:REPLACE_WITH_STRONG_RANDOM_PASSWORD_32_CHARS@db/artstore' }),
      );
      assert.equal(err.variable, 'DATABASE_URL');
    });

    it('when a key is shorter than 32 characters, then start-up refuses it', () => {
      const err = configError(() => loadConfig('admin', { ...prod, AUDIT_LOG_SECRET_KEY: 'k1:short-but-random-9f8e7d' }));
      assert.match(err.message, /shorter than 32/);
      const pw = configError(() => loadConfig('query', { ...prod, REDIS_URL: 'redis://:tooShort123@redis:6379/0' }));
      assert.equal(pw.variable, 'REDIS_URL');
    });

    it('when the same weak key is used outside production, then it is accepted', () => {
      assert.doesNotThrow(() => loadConfig('admin', { ...base, AUDIT_LOG_SECRET_KEY: 'k1:short' }));
    });
  });

  describe('CORS settings', () => {
    it('when origins are a JSON array or a comma list, then both parse to the same list', () => {
      const fromJson = loadConfig('admin', { ...base, CORS_ALLOWED_ORIGINS: '["http://localhost:4200","https://app.example.com"]' });
      const fromList = loadConfig('admin', { ...base, CORS_ALLOWED_ORIGINS: 'http://localhost:4200, https://app.example.com' });
      assert.deepEqual(fromJson.cors.allowedOrigins, ['http://localhost:4200', 'https://app.example.com']);
      assert.deepEqual(fromList.cors.allowedOrigins, fromJson.cors.allowedOrigins);
    });

    it('when "*" is configured in production, then start-up fails with a message naming CORS', () => {
      const err = configError(() => loadConfig('query', { ...base, ENVIRONMENT: 'production', CORS_ALLOWED_ORIGINS: '*', CORS_ALLOW_CREDENTIALS: 'false' }));
      assert.match(err.message, /CORS/);
    });

    it('when "*" is combined with credentials, then start-up fails even in development', () => {
      const err = configError(() => loadConfig('query', { ...base, CORS_ALLOWED_ORIGINS: '*' }));
      assert.match(err.message, /CORS_ALLOW_CREDENTIALS/);
      assert.doesNotThrow(() => loadConfig('query', { ...base, CORS_ALLOWED_ORIGINS: '*', CORS_ALLOW_CREDENTIALS: 'false' }));
    });

    it('when an origin has a path or the regex does not compile, then start-up names the variable', () => {
      assert.equal(configError(() => loadConfig('query', { ...base, CORS_ALLOWED_ORIGINS: 'https://app.example.com/' })).variable, 'CORS_ALLOWED_ORIGINS');
      assert.equal(configError(() => loadConfig('query', { ...base, CORS_ALLOWED_ORIGINS_REGEX: 'https://(' })).variable, 'CORS_ALLOWED_ORIGINS_REGEX');
    });
  });

  it('when the config is serialised or inspected, then no secret value appears', async () => {
    const config = loadConfig('admin', { ...base, ADMIN_BOOTSTRAP_CLIENT_ID: 'admin-service', ADMIN_BOOTSTRAP_CLIENT_SECRET: `${STRONG}-bootstrap` });
    const { inspect } = await import('node:util');
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), String(config.databaseUrl)]) {
      assert.ok(!text.includes(STRONG), 'a secret value leaked');
      assert.ok(text.includes('[REDACTED]'));
    }
  });
});
