import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { isolatedPrefix, testConfig } from './infra.ts';
import { MODULES, type ModuleName } from './modules.ts';

/** The variables that turn TLS on for a test deployment: one CA key, a bundle file admin writes and the others start from. */
export async function tlsTestEnv(overrides: Env = {}): Promise<Env> {
  const dir = await mkdtemp(path.join(tmpdir(), 'artstore-tls-'));
  const bundle = path.join(dir, 'ca.pem');
  return {
    TLS_MODE: 'on',
    PKI_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    PKI_BUNDLE_FILE: bundle,
    TLS_CA_FILE: bundle,
    TLS_SANS: 'localhost,127.0.0.1',
    BULLMQ_PREFIX: isolatedPrefix('tls'),
    ...overrides,
  };
}

/** Every module with TLS on: admin first (it sets up the CA and writes the bundle), then the others against it. */
export async function startTlsModules(env: Env): Promise<Record<ModuleName, RunningService>> {
  const admin = await MODULES.admin(testConfig('admin', env));
  const withAdmin = { ...env, ADMIN_URL: admin.url };
  const others = await Promise.all(
    (['storage-element', 'ingester', 'query'] as const).map(async (name) => [name, await MODULES[name](testConfig(name, withAdmin))] as const),
  );
  return { admin, ...Object.fromEntries(others) } as Record<ModuleName, RunningService>;
}

/** An external client: trusts the deployment's bundle, presents no certificate (or the one given). */
export async function bundleClient(bundleFile: string, identity?: { cert: string; key: string }) {
  const agent = new Agent({ connect: { ca: await readFile(bundleFile, 'utf8'), ...identity } });
  const request = (url: string, init: RequestInit = {}) => undiciFetch(url, { ...(init as object), dispatcher: agent }) as unknown as Promise<Response>;
  return { fetch: request, close: () => agent.close() };
}
