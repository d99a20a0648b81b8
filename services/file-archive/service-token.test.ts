import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { start as startAdmin } from '../admin/app.ts';
import { testConfig } from '../../test/support/infra.ts';
import { createLogger } from '../platform/logger.ts';
import type { RunningService } from '../platform/runtime.ts';
import { createServiceTokenSource } from './service-token.ts';

describe('module-to-module storage token', () => {
  let admin: RunningService;
  const logger = createLogger({ service: 'ingester', level: 'silent' });

  before(async function () {
    this.timeout(30_000);
    admin = await startAdmin(testConfig('admin'));
  });
  after(() => admin?.stop());

  it('when the modules ask for a token, then they get one of the storage role, reuse it, and renew it before it expires', async () => {
    let clock = Date.now();
    const tokens = createServiceTokenSource(testConfig('ingester', { ADMIN_URL: admin.url }), logger, () => clock);
    const [first, again] = await Promise.all([tokens.token(), tokens.token()]);
    assert.equal(first, again, 'concurrent callers share one token');
    const claims = decodeJwt(first);
    assert.equal(claims.role, 'storage');
    const lifeMs = (claims.exp! - claims.iat!) * 1000;

    clock += lifeMs * 0.5;
    assert.equal(await tokens.token(), first, 'half-way through its life the token still serves');
    clock += lifeMs * 0.35;
    // Past the renewal point but before expiry: the current token serves while a new one is fetched.
    assert.equal(await tokens.token(), first);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const renewed = await tokens.token();
    assert.notEqual(renewed, first);
    assert.equal(decodeJwt(renewed).role, 'storage');
  });

  it('when a storage element refused the token, then the next call fetches a new one', async () => {
    const tokens = createServiceTokenSource(testConfig('query', { ADMIN_URL: admin.url }), logger);
    const first = await tokens.token();
    tokens.invalidate(first);
    assert.notEqual(await tokens.token(), first);
  });

  it('when no storage credentials are configured, then file operations get a 503 naming the settings', async () => {
    const tokens = createServiceTokenSource(testConfig('query', { ADMIN_URL: admin.url, STORAGE_CLIENT_ID: '', STORAGE_CLIENT_SECRET: '' }), logger);
    await assert.rejects(tokens.token(), (err: Error & { status?: number }) => err.status === 503 && /STORAGE_CLIENT_ID/.test(err.message));
  });
});
