import { createServer, type Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { JWTVerifyGetKey } from 'jose';
import { createAuditPublisher, type AuditPublisher } from '../audit-log/publisher.ts';
import { ConfigError, loadConfig, type Config, type ServiceName } from './config/index.ts';
import { createPrismaClient, type PrismaClient } from './db/client.ts';
import { createRevocationList, type RevocationList } from './auth/revocation-list.ts';
import type { Principal } from './auth/roles.ts';
import { revocationStore } from './auth/revocation-store.ts';
import { createTokenVerifier } from './auth/token-verifier.ts';
import { createAuth, type Auth } from './http/auth.ts';
import { createHttpApp, type ReadinessCheck } from './http/app.ts';
import { answerClientErrorsWithJson } from './http/client-errors.ts';
import { ChangeTopic, openChangeNotices, type ChangeListeners } from './change-notices.ts';
import { createLogger, type Logger } from './logger.ts';
import { createServiceMetrics, type ServiceMetrics } from './metrics.ts';
import { createRedis, waitForRedis, type RedisClient } from './redis.ts';
import { certificatesFromAdmin, type CertificateSource } from './tls/certificate-source.ts';
import { createTlsServer } from './tls/tls-server.ts';
import { startWorkloadTls, type WorkloadTls } from './tls/workload-tls.ts';

/** What every process holds: its config, logger, metrics, database client and producer Redis connection. */
export interface ServiceDeps {
  config: Config;
  logger: Logger;
  metrics: ServiceMetrics;
  prisma: PrismaClient;
  redis: RedisClient;
  /** Bearer-token checks against the admin module's JWKS. */
  auth: Auth;
  /** Publishes audit events onto `audit-events` (or the local spool); closed when the process stops. */
  audit: AuditPublisher;
  /** Change notices from other replicas, heard on this process's one subscriber connection. */
  notices: ChangeListeners;
  /** Per-account not-befores every token check consults (kept current by notices and a periodic reload). */
  revocations: RevocationList;
  /** This process's own base URL, known once it listens. */
  selfUrl(): string;
  /** fetch for calls to other modules: over mutual TLS with this process's certificate when TLS is on. */
  fetch: typeof fetch;
  /** This process's workload certificate and trust bundle; set before the server listens when TLS_MODE=on. */
  tls(): WorkloadTls | undefined;
}

export interface RunningService {
  /** Base URL of the process's HTTP server (module API, or a worker's /health and /metrics). */
  url: string;
  port: number;
  deps: ServiceDeps;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  logger?: Logger;
  /** Runs once the connections exist and before the server listens (bootstrap data, caches). */
  prepare?: (deps: ServiceDeps) => Promise<void>;
  routes?: (app: Express, deps: ServiceDeps) => void;
  /** In-process verification keys (admin only): its own tokens never wait for its own JWKS cache. */
  verificationKeys?: () => JWTVerifyGetKey | undefined;
  /** Checks every verified caller further before its request runs (admin: the account is active now); throws to refuse. */
  confirmPrincipal?: (principal: Principal, deps: ServiceDeps) => Promise<void>;
  readiness?: ReadinessCheck[];
  /** Socket buffer size of the HTTP server; modules that move file content raise it. @defaultValue Node's default */
  streamHighWaterMark?: number;
  /** Runs before the connections close, e.g. to close a BullMQ worker. */
  beforeStop?: () => Promise<void>;
  /** Where this process's certificate comes from with TLS on. @defaultValue admin, over HTTPS (certificatesFromAdmin) */
  certificates?: (deps: ServiceDeps) => CertificateSource;
  /**
   * Path prefixes served to this origin's own pages only (admin: the console and Bull Board, which a
   * session cookie opens): no CORS headers, no preflight, whatever CORS_ALLOWED_ORIGINS allows.
   */
  sameOriginOnly?: string[];
}

const SHUTDOWN_GRACE_MS = 5000;

function listen(server: Server | HttpsServer, config: Config): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Starts one process's HTTP server with its connections; `stop()` closes all of them. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const logger = options.logger ?? createLogger({ service: config.service, level: config.logLevel });
  const metrics = createServiceMetrics(config.service);
  const prisma = createPrismaClient(config.databaseUrl.reveal());
  const redis = createRedis(config.redis, 'producer', logger, `${config.service}:producer`, { caFile: config.tls.caFile });
  const audit = await createAuditPublisher({
    redis,
    bullmqPrefix: config.bullmqPrefix,
    source: config.service,
    delivery: config.audit.delivery,
    spoolDir: config.audit.spoolDir,
    logger,
    registry: metrics.registry,
  }).catch(async (err: unknown) => {
    redis.disconnect();
    await prisma.$disconnect();
    throw err;
  });
  let url = '';
  const revocations = createRevocationList({
    load: (after) => revocationStore.since(prisma, after),
    windowMs: (config.jwt.accessTokenTtlSeconds + config.jwt.clockToleranceSeconds) * 1000,
    resyncMs: config.identity.revocationResyncSeconds * 1000,
    logger,
  });
  let workload: WorkloadTls | undefined;
  // Calls to other modules go over mutual TLS once this process has its certificate.
  const fetchVia: typeof fetch = (input, init) => (workload ? workload.fetch(input, init) : fetch(input, init));
  const verifier = createTokenVerifier(config.jwt, {
    fetch: fetchVia,
    // The admin module verifies against its own JWKS; the others against the admin module's.
    jwksUrl: () => `${config.service === 'admin' ? url : config.jwt.adminUrl}/.well-known/jwks.json`,
    localKeys: options.verificationKeys,
    revocations,
    onResult: (result) => metrics.tokensVerified.inc({ result }),
  });
  const auth = createAuth(verifier, {
    onForbidden: () => metrics.tokensVerified.inc({ result: 'forbidden' }),
    confirm: options.confirmPrincipal && ((principal) => options.confirmPrincipal!(principal, deps)),
  });
  const notices = await openChangeNotices(config.redis, config.bullmqPrefix, {
    logger,
    connectionName: `${config.service}:notices`,
    caFile: config.tls.caFile,
  });
  // A key change anywhere makes this process refetch the JWKS at once: a new `next` key is known
  // long before it signs even when rotations come faster than the cache age, and a revoked key stops
  // verifying within moments (the cache age remains the bound if a notice is lost).
  notices.on(ChangeTopic.KeysChanged, () => void verifier.refresh());
  // A suspension, deletion or revocation anywhere reaches this process's verifier within moments;
  // the periodic reload bounds a lost notice, and a reconnect (undefined) reloads at once.
  notices.on(ChangeTopic.TokensRevoked, (notice) => revocations.apply(notice));
  if (!(await revocations.sync())) logger.warn('token revocations not loaded at start-up: tokens are refused until they are');
  const deps: ServiceDeps = {
    config,
    logger,
    metrics,
    prisma,
    redis,
    auth,
    audit,
    notices,
    revocations,
    selfUrl: () => url,
    fetch: fetchVia,
    tls: () => workload,
  };
  const readiness: ReadinessCheck[] = [
    {
      name: 'redis',
      check: async () => {
        await waitForRedis(redis, 1500);
        await redis.ping();
      },
    },
    { name: 'database', check: async () => void (await prisma.$queryRaw`SELECT 1`) },
    ...(options.readiness ?? []),
  ];
  // A healthy start is ready at once; Redis being down only delays readiness, never the start.
  await waitForRedis(redis, 5000).catch((err: Error) => logger.warn({ err: err.message }, 'redis not ready at start-up'));
  let server: Server | HttpsServer | undefined;
  let bundleTimer: NodeJS.Timeout | undefined;
  let port: number;
  try {
    await options.prepare?.(deps);
    if (config.tls.mode === 'on') {
      const source = options.certificates?.(deps) ?? certificatesFromAdmin(config);
      workload = await startWorkloadTls({
        service: config.service,
        sans: config.tls.sans,
        ...source,
        registry: metrics.registry,
        logger,
        startupWaitMs: config.tls.startupWaitSeconds * 1000,
      });
      // A rotation of the CA anywhere reaches this process at once; the timer bounds a lost notice.
      notices.on(ChangeTopic.PkiChanged, () => void workload?.refreshBundle());
      bundleTimer = setInterval(() => void workload?.refreshBundle(), config.tls.bundleRefreshSeconds * 1000);
      bundleTimer.unref();
      const { publicCertFile, publicKeyFile } = config.tls;
      server = createTlsServer({
        workload,
        publicCertificate: publicCertFile && publicKeyFile ? { certFile: publicCertFile, keyFile: publicKeyFile } : undefined,
        registry: metrics.registry,
        logger,
        highWaterMark: options.streamHighWaterMark,
      });
    } else {
      server = createServer(options.streamHighWaterMark ? { highWaterMark: options.streamHighWaterMark } : {});
    }
    answerClientErrorsWithJson(server);
    const routes = (app: Express) => {
      app.get('/api/v1/auth/whoami', auth.authenticated(), (req, res) => {
        res.json({ service: config.service, principal: req.principal });
      });
      options.routes?.(app, deps);
    };
    server.on('request', createHttpApp({ config, logger, metrics, readiness, routes, audit, sameOriginOnly: options.sameOriginOnly }));
    port = await listen(server, config);
  } catch (err) {
    clearInterval(bundleTimer);
    await workload?.close();
    await notices.close();
    revocations.close();
    await audit.close();
    redis.disconnect();
    await prisma.$disconnect();
    throw err;
  }
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  url = `${config.tls.mode === 'on' ? 'https' : 'http'}://${host}:${port}`;
  logger.info({ url }, `${config.service} listening`);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await options.beforeStop?.();
      await notices.close();
      revocations.close();
      clearInterval(bundleTimer);
      await closeServer(server!);
      (server as { stopWatching?: () => void }).stopWatching?.();
      await workload?.close();
      await audit.close();
      await Promise.allSettled([redis.quit(), prisma.$disconnect()]);
      logger.info(`${config.service} stopped`);
    })());
  return { url, port, deps, stop };
}

/**
 * Process entry: reads the config once (a bad value exits 1 naming the variable), starts the
 * service, and stops it cleanly on SIGTERM or SIGINT.
 */
export async function runMain(service: ServiceName, start: (config: Config, options: { logger: Logger }) => Promise<{ stop(): Promise<void> }>) {
  let config: Config;
  try {
    config = loadConfig(service, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: configuration error: ${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger({ service, level: config.logLevel });
  let running: { stop(): Promise<void> };
  try {
    running = await start(config, { logger });
  } catch (err) {
    logger.fatal({ err }, `${service} failed to start`);
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    logger.info({ signal }, `${service} stopping`);
    setTimeout(() => {
      logger.error(`${service} did not stop within 10 s; exiting`);
      process.exit(1);
    }, 10_000).unref();
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, `${service} stop failed`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
