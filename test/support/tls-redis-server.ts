import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pickPort } from '../../scripts/embedded/process-control.ts';
import { startServerProcess } from './server-process.ts';

/**
 * A redis-server that speaks only TLS (port 0, --tls-port), with the tls.crt / tls.key / ca.pem
 * that `npm run pki:issue` wrote in `dir`; clients present no certificate, as in compose.
 */
export async function startTlsRedis(dir: string): Promise<{ port: number; url: string; stop(): Promise<void> }> {
  const program = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!program) throw new Error('redis-server is needed on PATH for this test (apt-get install redis-server)');
  const port = await pickPort(0);
  const server = await startServerProcess(
    'redis-server with TLS',
    program,
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      path.join(dir, 'tls.crt'),
      '--tls-key-file',
      path.join(dir, 'tls.key'),
      '--tls-ca-cert-file',
      path.join(dir, 'ca.pem'),
      '--tls-auth-clients',
      'no',
      '--tls-protocols',
      'TLSv1.3',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    /Ready to accept connections/,
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  return { port, url: `rediss://127.0.0.1:${port}/0`, stop: () => server.stop('SIGTERM', 5000) };
}

/** ioredis over TLS trusting `ca` (or nothing but the system's CAs): `read` runs on it, or this rejects with why TLS failed. */
export async function overTls<T>(url: string, ca: string | undefined, read: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { tls: ca ? { ca } : {}, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let failure: Error | undefined;
  redis.on('error', (err: Error) => (failure ??= err));
  try {
    await redis.connect();
    return await read(redis);
  } catch (err) {
    // ioredis rejects with "Connection is closed"; the TLS error came as an 'error' event first.
    throw failure ?? err;
  } finally {
    redis.disconnect();
  }
}
