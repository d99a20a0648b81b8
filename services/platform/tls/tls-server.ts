import { X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import https from 'node:https';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import type { TlsMaterial, WorkloadTls } from './workload-tls.ts';

const TLS13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;
/** How often the public certificate files are checked for a change. */
const PUBLIC_CERT_POLL_MS = 2000;

export interface PublicCertificate {
  certFile: string;
  keyFile: string;
}

interface LoadedPublicCertificate {
  names: string[];
  cert: string;
  key: string;
}

/** A user-provided certificate for external clients, chosen by SNI for the DNS names it holds. */
function loadPublicCertificate(files: PublicCertificate): LoadedPublicCertificate {
  const cert = readFileSync(files.certFile, 'utf8');
  const key = readFileSync(files.keyFile, 'utf8');
  const names = (new X509Certificate(cert).subjectAltName ?? '')
    .split(/,\s*/)
    .filter((name) => name.startsWith('DNS:'))
    .map((name) => name.slice(4).toLowerCase());
  return { names, cert, key };
}

const matches = (pattern: string, servername: string) =>
  pattern === servername || (pattern.startsWith('*.') && servername.endsWith(pattern.slice(1)) && !servername.slice(0, -pattern.length + 1).includes('.'));

/**
 * An HTTPS server speaking TLS 1.3 only. It asks every client for a certificate but lets one
 * without through (external clients; routes that need a peer check it); a client that presents a
 * certificate this system does not trust (another CA, expired) is cut off at the handshake.
 * Certificates and bundle are swapped in place on every change; a public certificate, when given,
 * answers the SNI names it holds and is re-read when its files change.
 */
export function createTlsServer(options: {
  workload: WorkloadTls;
  publicCertificate?: PublicCertificate;
  registry: Registry;
  logger: Logger;
  highWaterMark?: number;
}): https.Server & { stopWatching(): void } {
  const { workload, logger } = options;
  const failures = new Counter({
    name: 'tls_handshake_failures_total',
    help: 'TLS handshakes refused or failed, by reason (protocol version, untrusted or expired client certificate, …)',
    labelNames: ['reason'],
    registers: [options.registry],
  });
  const serverOptions = (material: TlsMaterial) => ({ cert: material.cert, key: material.key, ca: material.ca, ...TLS13 });
  let material = workload.material();
  let workloadContext = createSecureContext(serverOptions(material));
  // The context SNI picks is also the one a client certificate is verified with: the public one
  // trusts this system's bundle too, or a module's certificate would be checked against Node's
  // public roots on a connection to a public name (and refused, or worse, another CA's accepted).
  let publicCert: (LoadedPublicCertificate & { context: SecureContext }) | undefined;
  const withContext = (loaded: LoadedPublicCertificate) => ({
    ...loaded,
    context: createSecureContext({ cert: loaded.cert, key: loaded.key, ca: material.ca, ...TLS13 }),
  });
  const reloadPublic = () => {
    try {
      publicCert = withContext(loadPublicCertificate(options.publicCertificate!));
      logger.info({ names: publicCert.names }, 'public TLS certificate loaded');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'public TLS certificate could not be read; keeping the previous one');
    }
  };
  if (options.publicCertificate) {
    reloadPublic();
    watchFile(options.publicCertificate.certFile, { interval: PUBLIC_CERT_POLL_MS }, reloadPublic);
    watchFile(options.publicCertificate.keyFile, { interval: PUBLIC_CERT_POLL_MS }, reloadPublic);
  }

  const server = https.createServer({
    ...serverOptions(workload.material()),
    requestCert: true,
    rejectUnauthorized: false,
    ...(options.highWaterMark ? { highWaterMark: options.highWaterMark } : {}),
    SNICallback: (servername, callback) => {
      const name = servername.toLowerCase();
      callback(null, publicCert?.names.some((pattern) => matches(pattern, name)) ? publicCert.context : workloadContext);
    },
  });
  workload.onChange((changed) => {
    material = changed;
    workloadContext = createSecureContext(serverOptions(material));
    if (publicCert) publicCert = withContext(publicCert);
    server.setSecureContext(serverOptions(material));
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.authorized) return;
    const peer = socket.getPeerCertificate();
    if (peer && Object.keys(peer).length > 0) {
      failures.inc({ reason: String(socket.authorizationError ?? 'untrusted_client_certificate') });
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    failures.inc({ reason: err.code ?? 'handshake_error' });
  });
  return Object.assign(server, {
    stopWatching() {
      if (!options.publicCertificate) return;
      unwatchFile(options.publicCertificate.certFile);
      unwatchFile(options.publicCertificate.keyFile);
    },
  });
}
