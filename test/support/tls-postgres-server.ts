import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pickPort } from '../../scripts/embedded/process-control.ts';
import { startServerProcess } from './server-process.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** The machine's `postgres` user, which initdb and the server must run as (they refuse root). */
function postgresUser(): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!uid) throw new Error('a postgres user is needed for this test (apt-get install postgresql)');
  return { uid, gid };
}

/**
 * A throwaway PostgreSQL cluster as the production compose file runs it: started before its
 * certificate exists (ssl off, ssl_cert_file and ssl_key_file already naming `certDir`), reachable
 * over a Unix socket directory and on localhost. `npm run pki:issue -- --reload` turns TLS on.
 */
export async function startPostgresAwaitingCertificate(dir: string, certDir: string) {
  if (!existsSync(path.join(PG_BIN, 'postgres'))) throw new Error(`PostgreSQL 15 binaries are needed in ${PG_BIN}`);
  const user = postgresUser();
  const data = path.join(dir, 'data');
  const socketDir = path.join(dir, 'socket');
  for (const sub of [dir, socketDir, certDir]) {
    mkdirSync(sub, { recursive: true });
    chownSync(sub, user.uid, user.gid);
  }
  const asPostgres = (program: string, args: string[]) => ['-u', 'postgres', '--', path.join(PG_BIN, program), ...args];
  const init = spawnSync('runuser', asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']), { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await pickPort(0);
  const server = await startServerProcess(
    'PostgreSQL',
    'runuser',
    asPostgres('postgres', [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      socketDir,
      '-c',
      'listen_addresses=localhost',
      '-c',
      `ssl_cert_file=${path.join(certDir, 'tls.crt')}`,
      '-c',
      `ssl_key_file=${path.join(certDir, 'tls.key')}`,
      '-c',
      'ssl_min_protocol_version=TLSv1.3',
      '-c',
      'fsync=off',
    ]),
    /ready to accept connections/,
    { timeoutMs: 20_000 },
  );
  return {
    port,
    socketDir,
    owner: `${user.uid}:${user.gid}`,
    output: server.output,
    // SIGINT: the fast shutdown, which ends open sessions rather than waiting for them.
    stop: () => server.stop('SIGINT', 10_000),
  };
}
