import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { childExited, forEachLine, stopChild } from '../../scripts/embedded/process-control.ts';
import { waitFor } from './wait-for.ts';

/** One redis-server of the cluster. */
export interface ClusterNode {
  port: number;
  pid: number;
  /** `127.0.0.1:<port>` */
  address: string;
}

export interface RedisClusterUnderTest {
  /** `127.0.0.1:P1,127.0.0.1:P2,…`: REDIS_CLUSTER_NODES for every node. */
  nodesSetting: string;
  nodes: ClusterNode[];
  /** The node now serving `key`'s slot as master (CLUSTER KEYSLOT, then CLUSTER NODES on a live node). */
  masterOf(key: string): Promise<ClusterNode>;
  /** The replica of `master` (CLUSTER NODES). */
  replicaOf(master: ClusterNode): Promise<ClusterNode>;
  /** SIGKILLs a node; it stays down. */
  kill(node: ClusterNode): Promise<void>;
  /** SIGSTOPs a node: it holds its connections and answers nothing, as a hung server does, until `resume`. */
  pause(node: ClusterNode): void;
  resume(node: ClusterNode): void;
  /** Resolves once every live node reports cluster_state:ok and `key`'s slot has a master other than `former`. */
  untilFailedOver(key: string, former: ClusterNode, timeoutMs?: number): Promise<ClusterNode>;
  /** A plain connection to one live node, for CLUSTER and INFO commands. */
  admin(node?: ClusterNode): Redis;
  stop(): Promise<void>;
}

/** Holds `count` distinct free loopback ports at once (so none is handed out twice), then frees them. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
      servers.push(server);
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output}`))));
  });
}

/** A bus CA, a client certificate of it (bus.crt, bus.key) and trusted.pem: the bundle `ca` and the bus CA. */
async function makeBusCertificates(dir: string, ca: string): Promise<void> {
  const file = (name: string) => path.join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...key, '-keyout', file('bus-ca.key'), '-out', file('bus-ca.pem'), '-subj', '/CN=redis cluster bus CA', '-days', '2']);
  await run('openssl', ['req', ...key, '-keyout', file('bus.key'), '-out', file('bus.csr'), '-subj', '/CN=redis cluster bus']);
  await writeFile(file('bus.ext'), 'extendedKeyUsage=clientAuth\n');
  await run('openssl', [
    ...['x509', '-req', '-in', file('bus.csr'), '-CA', file('bus-ca.pem'), '-CAkey', file('bus-ca.key'), '-CAcreateserial'],
    ...['-out', file('bus.crt'), '-days', '2', '-extfile', file('bus.ext')],
  ]);
  await writeFile(file('trusted.pem'), `${ca.trimEnd()}\n${await readFile(file('bus-ca.pem'), 'utf8')}`);
}

/** The master serving `slot` in CLUSTER NODES' text: `<id> <ip:port@bus> <flags> <master> … <slots…>`. */
function masterAddressOfSlot(nodesText: string, slot: number): string | undefined {
  for (const line of nodesText.trim().split('\n')) {
    const [, address = '', flags = '', , , , , , ...ranges] = line.split(' ');
    if (!flags.split(',').includes('master') || flags.includes('fail')) continue;
    for (const range of ranges) {
      if (range.startsWith('[')) continue;
      const [from = NaN, to = from] = range.split('-').map(Number);
      if (slot >= from && slot <= to) return address.split('@')[0];
    }
  }
  return undefined;
}

/**
 * A Redis Cluster of `masters` masters with one replica each on loopback ports, each node its own
 * redis-server process with its data in a temporary directory, joined with `redis-cli --cluster
 * create`. `nodeTimeoutMs` (cluster-node-timeout) is how long a silent master stays a master before
 * its replica is elected in its place. With `tlsDir` (the tls.crt, tls.key and ca.pem `npm run
 * pki:issue` writes) every node speaks only TLS, to clients, to its replica and on the cluster bus;
 * clients present no certificate, as in compose. The bus is mutual TLS whatever tls-auth-clients
 * says, and pki:issue's certificate is server-only, so the nodes show each other a client
 * certificate of a bus CA of their own (made here with openssl), which they trust beside the bundle.
 */
export async function startRedisCluster(options: { masters?: number; nodeTimeoutMs?: number; tlsDir?: string } = {}): Promise<RedisClusterUnderTest> {
  const masters = options.masters ?? 3;
  const count = masters * 2;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-redis-cluster-'));
  // The cluster bus listens on a port of its own: picked too, since port + 10000 may be taken or past 65535.
  const ports = await freePorts(count * 2);
  const { tlsDir } = options;
  const ca = tlsDir ? await readFile(path.join(tlsDir, 'ca.pem'), 'utf8') : undefined;
  if (tlsDir) await makeBusCertificates(dir, ca!);
  const listen = (port: number) =>
    tlsDir
      ? [
          ...['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-auth-clients', 'no'],
          ...[
            '--tls-cert-file',
            path.join(tlsDir, 'tls.crt'),
            '--tls-key-file',
            path.join(tlsDir, 'tls.key'),
            '--tls-ca-cert-file',
            path.join(dir, 'trusted.pem'),
          ],
          ...['--tls-client-cert-file', path.join(dir, 'bus.crt'), '--tls-client-key-file', path.join(dir, 'bus.key')],
        ]
      : ['--port', String(port)];
  /** A plain connection's options (TLS trusting the bundle with `tlsDir`). */
  const direct = { maxRetriesPerRequest: 1, retryStrategy: () => null, ...(ca ? { tls: { ca } } : {}) };
  const servers: { node: ClusterNode; child: ChildProcess; output: string[] }[] = [];
  const stop = async () => {
    await Promise.all(
      servers.map(({ child }) => {
        // A paused node would take SIGTERM only once continued.
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
        return stopChild(child, 'SIGTERM', 'SIGKILL', 5000);
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = ports[i]!;
      const child = spawn(
        'redis-server',
        [
          ...listen(port),
          ...['--cluster-port', String(ports[count + i]!), '--bind', '127.0.0.1'],
          ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2000)],
          // A replica may always stand in, however long it was out of touch: the test kills masters on purpose.
          ...['--cluster-replica-validity-factor', '0'],
          ...['--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'],
        ],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const output: string[] = [];
      forEachLine(child.stdout, (line) => output.push(line));
      forEachLine(child.stderr, (line) => output.push(line));
      await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
      servers.push({ node: { port, pid: child.pid!, address: `127.0.0.1:${port}` }, child, output });
    }
    const nodes = servers.map(({ node }) => node);
    const live = () => servers.filter(({ child }) => child.exitCode === null && child.signalCode === null).map(({ node }) => node);
    const info = async (node: ClusterNode, section: 'cluster' | 'replication') => {
      const redis = new Redis(node.port, '127.0.0.1', { ...direct, lazyConnect: true, maxRetriesPerRequest: 0 });
      // A node not listening yet, or killed: the caller reads '' and asks again.
      redis.on('error', () => {});
      try {
        await redis.connect();
        return section === 'cluster' ? String(await redis.cluster('INFO')) : await redis.info('replication');
      } catch {
        return '';
      } finally {
        redis.disconnect();
      }
    };
    await waitFor(async () => (await Promise.all(nodes.map((node) => info(node, 'replication')))).every((text) => text.includes('role:')), {
      timeoutMs: 30_000,
      message: () => `every redis-server to answer:\n${servers.flatMap(({ output }) => output.slice(-5)).join('\n')}`,
    });
    const cliTls = tlsDir ? ['--tls', '--cacert', path.join(tlsDir, 'ca.pem')] : [];
    await run('redis-cli', [...cliTls, '--cluster', 'create', ...nodes.map((node) => node.address), '--cluster-replicas', '1', '--cluster-yes']);
    const healthy = async () => {
      const states = await Promise.all(live().map(async (node) => [await info(node, 'cluster'), await info(node, 'replication')] as const));
      return states.every(
        ([cluster, replication]) =>
          cluster.includes('cluster_state:ok') &&
          cluster.includes(`cluster_known_nodes:${count}`) &&
          (replication.includes('role:master') || replication.includes('master_link_status:up')),
      );
    };
    // Every node agrees, and every replica has its master's data: only then can a failover keep it.
    await waitFor(healthy, { timeoutMs: 60_000, intervalMs: 200, message: 'the cluster to be ok on every node with every replica in sync' });

    const admin = (node = live()[0]!) => {
      const redis = new Redis(node.port, '127.0.0.1', direct);
      redis.on('error', () => {});
      return redis;
    };
    const masterOf = async (key: string) => {
      const redis = admin();
      try {
        const slot = Number(await redis.cluster('KEYSLOT', key));
        const address = masterAddressOfSlot(String(await redis.cluster('NODES')), slot);
        const node = nodes.find((candidate) => candidate.address === address);
        if (!node) throw new Error(`no master serves slot ${slot}`);
        return node;
      } finally {
        redis.disconnect();
      }
    };
    const replicaOf = async (master: ClusterNode) => {
      const redis = admin();
      try {
        const lines = String(await redis.cluster('NODES'))
          .trim()
          .split('\n')
          .map((line) => line.split(' '));
        const masterId = lines.find(([, address = '']) => address.split('@')[0] === master.address)?.[0];
        const address = lines.find(([, , flags = '', of]) => flags.includes('slave') && of === masterId)?.[1]?.split('@')[0];
        const node = nodes.find((candidate) => candidate.address === address);
        if (!node) throw new Error(`${master.address} has no replica`);
        return node;
      } finally {
        redis.disconnect();
      }
    };
    return {
      nodesSetting: nodes.map((node) => node.address).join(','),
      nodes,
      masterOf,
      replicaOf,
      admin,
      pause: (node) => process.kill(node.pid, 'SIGSTOP'),
      resume: (node) => process.kill(node.pid, 'SIGCONT'),
      async kill(node) {
        const server = servers.find((candidate) => candidate.node === node)!;
        server.child.kill('SIGKILL');
        await childExited(server.child);
      },
      async untilFailedOver(key, former, timeoutMs = 60_000) {
        let master: ClusterNode | undefined;
        await waitFor(
          async () => {
            master = await masterOf(key).catch(() => undefined);
            if (!master || master === former) return false;
            return (await Promise.all(live().map((node) => info(node, 'cluster')))).every((text) => text.includes('cluster_state:ok'));
          },
          { timeoutMs, intervalMs: 100, message: `a replica to take over the slot of ${key}` },
        );
        return master!;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
