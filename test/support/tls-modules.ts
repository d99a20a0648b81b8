import { randomBytes } from 'node:crypto';
import { unwatchFile, watchFile } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Env } from '../../services/platform/config/index.ts';
import { createPrismaClient } from '../../services/platform/db/client.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { isolatedPrefix, TEST_SECRETS, testConfig, testInfra } from './infra.ts';
import { MODULES, type ModuleName } from './modules.ts';

/**
 * The variables that turn TLS on for a test deployment: one CA key, a bundle file admin writes and the
 * others start from. The key is new, so the CA starts over: rows an earlier test left are sealed
 * under another key and would stop admin at start.
 */
export async function tlsTestEnv(overrides: Env = {}): Promise<Env> {
  await emptyCaTable();
  const dir = await mkdtemp(path.join(tmpdir(), 'artstore-tls-'));
  const bundle = path.join(dir, 'ca.pem');
  return {
    TLS_MODE: 'on',
    PKI_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    PKI_BUNDLE_FILE: bundle,
    TLS_CA_FILE: bundle,
    TLS_SANS: 'localhost,127.0.0.1',
    BULLMQ_PREFIX: isolatedPrefix('tls'),
    // Its own file store: a storage element starting elsewhere on the shared default root clears the
    // partial uploads it finds there, this deployment's included.
    STORAGE_ROOT: path.join(dir, 'storage'),
    ...overrides,
  };
}

/** TLS tests own pki_authorities while they run (mocha runs one test at a time). */
export async function emptyCaTable(): Promise<void> {
  const prisma = createPrismaClient(testInfra().databaseUrl);
  try {
    await prisma.$executeRawUnsafe('TRUNCATE pki_authorities');
  } finally {
    await prisma.$disconnect();
  }
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

const fetchThrough =
  (agent: Agent) =>
  (url: string, init: RequestInit = {}) =>
    undiciFetch(url, { ...(init as object), dispatcher: agent }) as unknown as Promise<Response>;

/** An external client: trusts the deployment's bundle, presents no certificate (or the one given). */
export async function bundleClient(bundleFile: string, identity?: { cert: string; key: string }) {
  const agent = new Agent({ connect: { ca: await readFile(bundleFile, 'utf8'), ...identity } });
  return { fetch: fetchThrough(agent), close: () => agent.close() };
}

/** An external client of a deployment with TLS off: keep-alive, at most `connections` per origin. */
export function plainClient(options: { connections?: number } = {}) {
  const agent = new Agent({ connections: options.connections ?? 64 });
  return { fetch: fetchThrough(agent), close: () => agent.close() };
}

/**
 * An external client that keeps trusting the deployment while its CA rotates: it re-reads the bundle
 * file whenever admin rewrites it (a new root is there before anything it signs is used) and opens
 * new connections with it; requests already sent finish on the old connections.
 */
export async function followingBundleClient(bundleFile: string, options: { connections?: number } = {}) {
  const agentFor = (ca: string) => new Agent({ connect: { ca }, connections: options.connections ?? 64 });
  let ca = await readFile(bundleFile, 'utf8');
  let agent = agentFor(ca);
  let changes = 0;
  const reload = () => {
    void readFile(bundleFile, 'utf8').then(
      (fresh) => {
        if (fresh === ca || !fresh.includes('BEGIN CERTIFICATE')) return;
        const old = agent;
        ca = fresh;
        agent = agentFor(ca);
        changes++;
        void old.close().catch(() => undefined);
      },
      () => undefined,
    );
  };
  watchFile(bundleFile, { interval: 100 }, reload);
  return {
    fetch: (url: string, init: RequestInit = {}) => fetchThrough(agent)(url, init),
    /** How many times the bundle changed under this client. */
    changes: () => changes,
    close: async () => {
      unwatchFile(bundleFile, reload);
      await agent.close();
    },
  };
}

/** An admin token asked for over TLS with `client` (the test deployment's bootstrap admin). */
export async function adminTokenOver(client: { fetch(url: string, init?: RequestInit): Promise<Response> }, adminUrl: string): Promise<string> {
  const answer = await client.fetch(`${adminUrl}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET }),
  });
  return ((await answer.json()) as { access_token: string }).access_token;
}

/** Uploads `content` through the ingester over TLS; the raw answer, for the test to check. */
export function uploadOver(
  client: { fetch(url: string, init?: RequestInit): Promise<Response> },
  ingesterUrl: string,
  token: string,
  content: string,
  name: string,
): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([Buffer.from(content)]), name);
  return client.fetch(`${ingesterUrl}/api/v1/files/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
}
