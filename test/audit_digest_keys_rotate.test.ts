import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { publishedDigestKeys } from '../services/audit-log/digests/digest-keys.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { testEnv, testInfra } from './support/infra.ts';

const run = promisify(execFile);

describe('npm run audit:digest-keys:rotate', () => {
  it('when run against the configured database, then the next digest key signs at once and the old one stays published', async function () {
    this.timeout(60_000);
    const prisma = createPrismaClient(testInfra().databaseUrl);
    try {
      await run('npx', ['tsx', 'scripts/audit_digest_keys_rotate.ts'], { env: { ...process.env, ...testEnv() } });
      const before = (await publishedDigestKeys(prisma)).keys;
      const { stdout } = await run('npx', ['tsx', 'scripts/audit_digest_keys_rotate.ts'], { env: { ...process.env, ...testEnv() } });
      const result = JSON.parse(stdout) as { rotated: boolean; active_kid: string; next_kid: string };
      const after = (await publishedDigestKeys(prisma)).keys;
      assert.equal(result.rotated, true);
      assert.equal(result.active_kid, before.find((k) => k.state === 'next')?.kid, 'the published next key became active');
      assert.equal(after.find((k) => k.state === 'active')?.kid, result.active_kid);
      const previous = before.find((k) => k.state === 'active')!;
      assert.equal(after.find((k) => k.kid === previous.kid)?.state, 'grace');
      assert.deepEqual(
        before.map((k) => k.kid),
        after.slice(0, before.length).map((k) => k.kid),
        'no key left the published set',
      );
    } finally {
      await prisma.$disconnect();
    }
  });

  it('when the digest key-encryption key is missing, then it exits non-zero naming it', async function () {
    this.timeout(60_000);
    await assert.rejects(
      run('npx', ['tsx', 'scripts/audit_digest_keys_rotate.ts'], { env: { ...process.env, ...testEnv({ AUDIT_DIGEST_KEY_ENCRYPTION_KEY: '' }) } }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, /AUDIT_DIGEST_KEY_ENCRYPTION_KEY/);
        return true;
      },
    );
  });
});
