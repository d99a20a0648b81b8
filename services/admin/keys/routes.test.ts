import assert from 'node:assert/strict';
import type { JWK } from 'jose';
import type { RunningService } from '../../platform/runtime.ts';
import { start } from '../app.ts';
import { testConfig } from '../../../test/support/infra.ts';
import { metricValue } from '../../../test/support/modules.ts';
import { adminToken, bearer } from '../../../test/support/tokens.ts';
import { createKeyStore } from '../../signing-keys/key-store.ts';

describe('admin key routes', () => {
  let admin: RunningService;
  let token: string;
  const url = (path: string) => `${admin.url}${path}`;

  before(async function () {
    this.timeout(30_000);
    admin = await start(testConfig('admin'));
    token = await adminToken(admin.url);
  });
  after(() => admin?.stop());

  it('when anyone fetches the JWKS, then it lists the next, active and grace keys with kid, alg and use, and no private parameter', async () => {
    const res = await fetch(url('/.well-known/jwks.json'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=60');
    const { keys } = (await res.json()) as { keys: JWK[] };
    const expected = (await createKeyStore(admin.deps.prisma).published(new Date())).map((k) => k.kid).sort();
    assert.deepEqual(keys.map((k) => k.kid).sort(), expected);
    assert.ok(keys.length >= 2);
    for (const key of keys) {
      assert.equal(key.use, 'sig');
      assert.equal(key.alg, 'RS256');
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(secret in key), `JWKS leaks ${secret}`);
    }
  });

  it('when an admin lists the keys, then states and dates are shown and no key material', async () => {
    assert.equal((await fetch(url('/api/v1/keys'))).status, 401);
    const res = await fetch(url('/api/v1/keys'), bearer(token));
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.doesNotMatch(text, /private|public_key|BEGIN|"v1\./);
    const { keys } = JSON.parse(text) as { keys: { kid: string; state: string; in_jwks: boolean; activates_at: string | null }[] };
    assert.equal(keys.filter((k) => k.state === 'active').length, 1);
    const next = keys.find((k) => k.state === 'next');
    assert.ok(next?.in_jwks && next.activates_at);
  });

  it('when a kid is not a UUID, then revoke answers 400; when it is unknown, then 404', async () => {
    const bad = await fetch(url('/api/v1/keys/not-a-kid/revoke'), { method: 'POST', ...bearer(token) });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_kid');
    const unknown = await fetch(url('/api/v1/keys/00000000-0000-4000-8000-000000000000/revoke'), { method: 'POST', ...bearer(token) });
    assert.equal(unknown.status, 404);
    assert.equal((await fetch(url('/api/v1/keys/rotate'), { method: 'POST' })).status, 401);
  });

  it('when Prometheus scrapes admin, then it sees the published key count and the seconds until the next rotation', async () => {
    const text = await (await fetch(url('/metrics'))).text();
    assert.equal(metricValue(text, 'jwt_active_keys_count'), (await createKeyStore(admin.deps.prisma).published(new Date())).length);
    assert.ok((metricValue(text, 'jwt_key_next_rotation_seconds') ?? 0) > 0);
  });
});
