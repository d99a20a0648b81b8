import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { Gauge, type Registry } from 'prom-client';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Logger } from '../logger.ts';
import { createLeafRequest } from './certificate-request.ts';
import { tlsRotations } from './tls-metrics.ts';
import { generateKeyPair, privateKeyPem, TRUST_DOMAIN } from './x509.ts';

/** A certificate the CA issued for this process: the leaf and its intermediate, PEM. */
export interface IssuedCertificate {
  chain: string;
  notAfter: Date;
}

/** What a TLS endpoint of this process presents and trusts right now. */
export interface TlsMaterial {
  /** Leaf then intermediate, PEM. */
  cert: string;
  /** PKCS#8 PEM; made in this process and never sent anywhere. */
  key: string;
  /** The trust bundle: roots and intermediates, PEM. */
  ca: string;
  notAfter: Date;
}

export interface WorkloadTlsOptions {
  service: string;
  sans: readonly string[];
  /**
   * Gets a certificate for a CSR: from admin over HTTPS, or from the CA in this very process (admin,
   * maintenance). `fetchWith` verifies the server against the bundle and presents no certificate.
   */
  obtain(csrPem: string, fetchWith: typeof fetch): Promise<IssuedCertificate>;
  /** The trust bundle now: the CA's (admin, maintenance), or admin's /.well-known/artstore-ca.pem fetched over verified TLS. */
  trustBundle(fetchWith: typeof fetch): Promise<string>;
  /** The bundle to start from before anything can be fetched (TLS_CA_FILE); undefined where the CA is at hand. */
  initialBundle?: string;
  registry: Registry;
  logger: Logger;
  /** Share of a certificate's life after which it is renewed. @defaultValue 2/3 */
  renewAt?: number;
  /**
   * How long start-up waits, retrying, for a first certificate while the failure may pass (admin
   * away, or unable to record the issuance); anything else ends start-up at once.
   * @defaultValue 0: one try
   */
  startupWaitMs?: number;
  /** When a failure to obtain may be tried again at start-up: in how many ms at the least (a lock's Retry-After), or undefined for good. @defaultValue never */
  retryIn?(err: unknown): number | undefined;
}

export interface WorkloadTls {
  material(): TlsMaterial;
  /** Runs on every new certificate or bundle, after material() returns it. */
  onChange(listener: (material: TlsMaterial) => void): void;
  /** An https.Agent presenting this process's certificate; a new one after every change. */
  agent(): https.Agent;
  /** fetch over mutual TLS with the current certificate and bundle. */
  fetch: typeof fetch;
  /** Re-reads the trust bundle now (a change notice said the CA rotated). */
  refreshBundle(): Promise<void>;
  /** Renews the certificate now. */
  renew(): Promise<void>;
  close(): Promise<void>;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** Start-up waits for admin with shorter pauses: nothing is served until it has a certificate. */
const STARTUP_RETRY_MAX_MS = 5_000;

/** An error with its causes, for the log: undici's "fetch failed" says why only in its cause. */
function reasonOf(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; code?: string; cause?: unknown } | undefined; e && parts.length < 4; e = e.cause as typeof e) {
    parts.push(`${e.message ?? String(e)}${e.code ? ` (${e.code})` : ''}`);
  }
  return parts.join(': ');
}

/** The SPIFFE IDs a certificate names (URI SANs in this trust domain). */
export function spiffeIdsOf(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string[] {
  return (cert?.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((name) => name.startsWith(`URI:spiffe://${TRUST_DOMAIN}/`))
    .map((name) => name.slice(4));
}

/** A server of this system names a workload of its trust domain: a certificate from elsewhere that happens to chain is not enough. */
function checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  if (spiffeIdsOf(cert).length === 0) return new Error(`the server at ${host} has no SPIFFE ID of spiffe://${TRUST_DOMAIN}`);
  return undefined;
}

/**
 * This process's workload certificate: a key pair made here, a CSR, a short-lived certificate,
 * renewed at two thirds of its life with a fresh key; and the trust bundle it verifies peers with.
 * Each change is handed to the server (setSecureContext) and to new client agents, so nothing
 * restarts and no request fails: requests on an old agent finish on its sockets.
 */
export async function startWorkloadTls(options: WorkloadTlsOptions): Promise<WorkloadTls> {
  const { service, logger } = options;
  const renewAt = options.renewAt ?? 2 / 3;
  const expiry = new Gauge({
    name: 'tls_certificate_expiry_seconds',
    help: "Seconds until this process's workload certificate expires",
    labelNames: ['service'],
    registers: [options.registry],
    collect() {
      if (current) this.set({ service }, Math.round((current.notAfter.getTime() - Date.now()) / 1000));
    },
  });
  const lifetime = new Gauge({
    name: 'tls_certificate_lifetime_seconds',
    help: "Whole lifetime of this process's workload certificate, for alerts on the share left",
    labelNames: ['service'],
    registers: [options.registry],
  });
  const rotations = tlsRotations(options.registry);
  for (const kind of ['leaf', 'bundle']) for (const status of ['success', 'failure']) rotations.inc({ kind, status }, 0);
  void expiry;

  let current: TlsMaterial | undefined;
  let bundle = options.initialBundle ?? '';
  let agents: { https: https.Agent; undici: Agent; anonymous: Agent } | undefined;
  const listeners: ((material: TlsMaterial) => void)[] = [];
  let renewTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const makeAgents = (material: Pick<TlsMaterial, 'cert' | 'key' | 'ca'>) => {
    const versions = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;
    // One secure context per material, shared by every connection: given cert, key and ca instead,
    // each new socket parses them and the whole bundle again (under load, a tenth of a module's CPU).
    const presenting = createSecureContext({ cert: material.cert || undefined, key: material.key || undefined, ca: material.ca, ...versions });
    const anonymous = createSecureContext({ ca: material.ca, ...versions });
    return {
      https: new https.Agent({ keepAlive: true, secureContext: presenting, checkServerIdentity }),
      undici: new Agent({ connect: { secureContext: presenting, checkServerIdentity } }),
      anonymous: new Agent({ connect: { secureContext: anonymous, checkServerIdentity } }),
    };
  };
  const swapAgents = (material: Pick<TlsMaterial, 'cert' | 'key' | 'ca'>) => {
    const old = agents;
    agents = makeAgents(material);
    if (old) {
      // Requests already on the old agents finish on their sockets, however long (a 1 GiB download):
      // undici's close() waits for them, and the old https.Agent is only dropped, its idle sockets
      // closed by the servers' keep-alive timeout.
      void old.undici.close().catch(() => undefined);
      void old.anonymous.close().catch(() => undefined);
    }
  };
  const fetchVia =
    (agent: 'undici' | 'anonymous'): typeof fetch =>
    (input, init) => {
      if (!agents) swapAgents({ cert: '', key: '', ca: bundle });
      return undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as object), dispatcher: agents![agent] }) as unknown as Promise<Response>;
    };
  const fetchWith = fetchVia('undici');
  // The CA's endpoints take the token, not this certificate: a process whose certificate lapsed (it
  // was stalled, admin was away) must still get a new one, and admin cuts off an expired certificate.
  const fetchFromCa = fetchVia('anonymous');
  const publish = () => {
    swapAgents(current!);
    for (const listener of listeners) listener(current!);
  };

  async function obtainCertificate(): Promise<void> {
    const askedAt = Date.now();
    const keys = await generateKeyPair();
    const csr = await createLeafRequest(service, keys, options.sans);
    const issued = await options.obtain(csr, fetchFromCa);
    const leaf = new X509Certificate(issued.chain);
    // The CA back-dates notBefore for clock skew; the life this process can use starts when it asked.
    // Counted from notBefore, a certificate shorter than the skew would be due again at once.
    const usableFrom = Math.max(new Date(leaf.validFrom).getTime(), askedAt);
    current = { cert: issued.chain, key: await privateKeyPem(keys.privateKey), ca: bundle, notAfter: issued.notAfter };
    lifetime.set({ service }, Math.round((issued.notAfter.getTime() - usableFrom) / 1000));
    rotations.inc({ kind: 'leaf', status: 'success' });
    logger.info({ serial: leaf.serialNumber, notAfter: issued.notAfter.toISOString() }, 'workload certificate issued');
    scheduleRenewal(usableFrom, issued.notAfter);
  }

  function scheduleRenewal(from: number, notAfter: Date) {
    clearTimeout(renewTimer);
    const due = from + (notAfter.getTime() - from) * renewAt;
    renewTimer = setTimeout(() => void renewWithRetry(RETRY_MIN_MS), Math.max(0, due - Date.now()));
    renewTimer.unref();
  }

  async function renewWithRetry(delayMs: number): Promise<void> {
    if (closed) return;
    try {
      await obtainCertificate();
      publish();
    } catch (err) {
      rotations.inc({ kind: 'leaf', status: 'failure' });
      const left = (current?.notAfter.getTime() ?? 0) - Date.now();
      logger.error({ err: reasonOf(err), secondsLeft: Math.round(left / 1000) }, 'workload certificate renewal failed; retrying');
      // Backing off never skips past the certificate's end: with little life left, retries come as often as a tenth of it.
      const wait = Math.max(RETRY_MIN_MS, Math.min(delayMs, left / 10));
      const next = Math.min(RETRY_MAX_MS, delayMs * 2);
      renewTimer = setTimeout(() => void renewWithRetry(next), wait);
      renewTimer.unref();
    }
  }

  async function refreshBundle(): Promise<void> {
    try {
      const fresh = await options.trustBundle(fetchFromCa);
      if (!fresh.includes('BEGIN CERTIFICATE')) throw new Error('the trust bundle holds no certificate');
      if (fresh === bundle) return;
      bundle = fresh;
      rotations.inc({ kind: 'bundle', status: 'success' });
      if (current) {
        current = { ...current, ca: bundle };
        publish();
      }
      logger.info('trust bundle updated');
    } catch (err) {
      rotations.inc({ kind: 'bundle', status: 'failure' });
      logger.warn({ err: reasonOf(err) }, 'trust bundle refresh failed; keeping the current one');
    }
  }

  if (!options.initialBundle) bundle = await options.trustBundle(fetchFromCa);
  else await refreshBundle();
  // The first certificate, retried with backoff while its failure may pass, until a deadline on a
  // clock no time step at boot can stretch.
  const deadline = performance.now() + (options.startupWaitMs ?? 0);
  for (let delay = RETRY_MIN_MS; ; delay = Math.min(STARTUP_RETRY_MAX_MS, delay * 2)) {
    try {
      await obtainCertificate();
      break;
    } catch (err) {
      rotations.inc({ kind: 'leaf', status: 'failure' });
      const atLeast = options.retryIn?.(err);
      const left = deadline - performance.now();
      // For good, past the deadline, or locked beyond it: no use waiting.
      if (atLeast === undefined || left <= 0 || atLeast > left) throw err;
      // The last try comes at the deadline.
      const wait = Math.min(Math.max(delay, atLeast), left);
      logger.warn({ err: reasonOf(err), retryInMs: Math.round(wait) }, 'no workload certificate yet; retrying');
      await sleep(wait);
    }
  }
  publish();

  return {
    material: () => current!,
    onChange: (listener) => void listeners.push(listener),
    agent: () => agents!.https,
    fetch: fetchWith,
    refreshBundle,
    renew: async () => {
      await obtainCertificate();
      publish();
    },
    async close() {
      closed = true;
      clearTimeout(renewTimer);
      agents?.https.destroy();
      await agents?.undici.close().catch(() => undefined);
      await agents?.anonymous.close().catch(() => undefined);
    },
  };
}
