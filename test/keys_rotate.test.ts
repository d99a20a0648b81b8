import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createKeyStore } from '../services/signing-keys/key-store.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { testEnv, testInfra } from './support/infra.ts';

const run = promisify(execFile);

describe('npm run keys:rotate', () => {
  it('when run against the configured database, then it rotates at once and prints what POST /api/v1/keys/rotate answers', async function () {
    this.timeout(60_000);
    const prisma = createPrismaClient(testInfra().databaseUrl);
    try {
      const activeKid = async () => (await createKeyStore(prisma).live()).find((k) => k.state === 'active')?.kid;
      const before = await activeKid();
      const { stdout } = await run('npx', ['tsx', 'scripts/keys_rotate.ts'], { env: { ...process.env, ...testEnv() } });
      const result = JSON.parse(stdout) as { rotated: boolean; active_kid: string };
      assert.deepEqual(Object.keys(result), ['rotated', 'active_kid', 'next_kid', 'retired_kids']);
      assert.equal(result.rotated, true);
      assert.notEqual(result.active_kid, before);
      assert.equal(await activeKid(), result.active_kid);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('when the configuration is invalid, then it exits non-zero naming the variable', async function () {
    this.timeout(60_000);
    await assert.rejects(
      run('npx', ['tsx', 'scripts/keys_rotate.ts'], { env: { ...process.env, ...testEnv({ JWT_KEY_ENCRYPTION_KEY: 'short' }) } }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, /JWT_KEY_ENCRYPTION_KEY/);
        return true;
      },
    );
  });
});
