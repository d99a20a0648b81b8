/**
 * `npm run pki:issue -- --service redis|postgres --dns NAME [--dns …] [--ip ADDR …] --out DIR
 *  [--ttl SECONDS] [--if-due] [--reload] [--owner UID[:GID]] [--json]`
 *
 * A server certificate from the internal CA for Redis or PostgreSQL, so the modules reach them over
 * verified TLS (docs/TLS.md, "Redis and PostgreSQL over TLS"). The key is made here and written
 * only to DIR/tls.key (0600); DIR/tls.crt holds the certificate and its intermediate, DIR/ca.pem the
 * trust bundle, which also goes to PKI_BUNDLE_FILE when that is set. The certificate names
 * spiffe://artstore/<service>, never a module's identity, and serves TLS only (no client use).
 * It runs with the CA's key (PKI_KEY_ENCRYPTION_KEY) and the database and Redis settings, nothing
 * else secret, and sets the CA up on a deployment's first run.
 *
 * --if-due leaves a certificate in DIR that has more than a third of its life left, the same names
 * and an issuer still trusted (run it daily); --reload then makes the server use the new files:
 * Redis through CONFIG SET of its tls-* files (over REDIS_URL), PostgreSQL through pg_reload_conf()
 * (over the database URL, as a superuser; the first time it also turns ssl on). Publishes
 * certificate_issued (source `cli`).
 */
import { isIP } from 'node:net';
import { auditedAction } from '../services/audit-log/audited-action.ts';
import { writeTrustBundle } from '../services/pki/authority-source.ts';
import { createCertificateAuthority } from '../services/pki/certificate-authority.ts';
import { INFRASTRUCTURE_IDENTITIES, isInfrastructureIdentity, isModuleIdentity } from '../services/pki/identities.ts';
import {
  issueInfrastructureCertificate,
  maxInfrastructureTtlSeconds,
  renewalReason,
  type InfrastructureRequest,
} from '../services/pki/infrastructure-certificates.ts';
import { spiffeIdOf } from '../services/platform/tls/x509.ts';
import { runAuditedCli } from './cli/audited-cli.ts';
import { CommandLineError } from './cli/command-line-error.ts';
import { parseOwner, readPresentCertificate, writeCertificateFiles } from './pki/certificate-files.ts';
import { reloadServer, type ReloadOutcome } from './pki/server-reload.ts';

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

interface IssueResult {
  issued: boolean;
  spiffeId: string;
  reason: string;
  serialNumber?: string;
  notAfter?: Date;
  files: string[];
  reload?: ReloadOutcome;
}

await runAuditedCli({
  name: 'pki:issue',
  title: 'Server certificate',
  // Only the CA key is needed, never the JWT or digest keys the maintenance worker holds: checked as a process that needs none.
  configAs: 'storage-element',
  options: {
    service: { type: 'string' },
    dns: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    out: { type: 'string' },
    ttl: { type: 'string' },
    owner: { type: 'string' },
    'if-due': { type: 'boolean' },
    reload: { type: 'boolean' },
  },
  checkFlags: (flags) => {
    const service = flags.service ?? '';
    if (!isInfrastructureIdentity(service)) {
      const why = isModuleIdentity(service) ? `${service} is a module: modules obtain their own certificates from admin at start. ` : '';
      throw new CommandLineError(
        `--service must be ${INFRASTRUCTURE_IDENTITIES.join(' or ')}. ${why}(npm run pki:issue -- --service redis --dns redis --out DIR)`,
      );
    }
    if (!flags.out) throw new CommandLineError('--out DIR is required: where tls.crt, tls.key and ca.pem are written');
    if (!flags.dns?.length && !flags.ip?.length) throw new CommandLineError('give the names clients reach the server by: --dns NAME and/or --ip ADDRESS');
    const badDns = flags.dns?.find((name) => !DNS_NAME.test(name));
    if (badDns !== undefined) throw new CommandLineError(`--dns ${badDns} is not a DNS name`);
    const badIp = flags.ip?.find((address) => isIP(address) === 0);
    if (badIp !== undefined) throw new CommandLineError(`--ip ${badIp} is not an IP address`);
    if (flags.ttl !== undefined && !/^\d+$/.test(flags.ttl)) throw new CommandLineError('--ttl takes whole seconds');
    if (flags.owner !== undefined && !parseOwner(flags.owner)) throw new CommandLineError('--owner takes UID or UID:GID (numbers)');
  },
  action: async ({ config, prisma, redis, audit }, flags): Promise<IssueResult> => {
    if (!config.pki.keyEncryptionKey) throw new CommandLineError('PKI_KEY_ENCRYPTION_KEY is not set: only the holder of the CA key issues these certificates');
    const ca = createCertificateAuthority(prisma, config.pki);
    const maxTtl = maxInfrastructureTtlSeconds(config.pki);
    const ttlSeconds = flags.ttl === undefined ? maxTtl : Number(flags.ttl);
    if (ttlSeconds < 2 || ttlSeconds > maxTtl) {
      throw new CommandLineError(`--ttl must be from 2 to ${maxTtl} s (PKI_INTERMEDIATE_TTL_SECONDS - PKI_INTERMEDIATE_ROTATE_SECONDS)`);
    }
    const request: InfrastructureRequest = {
      identity: flags.service as InfrastructureRequest['identity'],
      names: [...(flags.dns ?? []), ...(flags.ip ?? [])],
      ttlSeconds,
    };
    const dir = flags.out!;
    const owner = flags.owner ? parseOwner(flags.owner) : undefined;
    const publishBundle = async (bundle: string) => {
      if (config.pki.bundleFile) await writeTrustBundle(config.pki.bundleFile, bundle);
    };

    await ca.ensure();
    const bundle = await ca.trustBundle();
    const present = await readPresentCertificate(dir);
    const reason = flags['if-due'] ? renewalReason(present, request, bundle) : 'asked for';
    let result: IssueResult;
    if (reason === undefined) {
      // Not due: only the bundle is refreshed, so the server and its clients learn of a new root in time.
      const files = await writeCertificateFiles(dir, { chain: present!, trustBundle: bundle }, owner);
      await publishBundle(bundle);
      result = { issued: false, spiffeId: spiffeIdOf(request.identity), reason: 'not due', files };
    } else {
      const issued = await auditedAction(audit, () => issueInfrastructureCertificate(ca, request), {
        success: ({ leaf }) => ({
          event_type: 'certificate_issued',
          action: 'issue',
          status: 'success',
          resource_type: 'certificate',
          resource_id: leaf.serialNumber,
          details: {
            spiffe_id: leaf.spiffeId,
            not_after: leaf.notAfter.toISOString(),
            issuer: leaf.issuerFingerprint,
            names: [...request.names],
            trigger: 'cli',
          },
        }),
      });
      const files = await writeCertificateFiles(dir, { chain: issued.leaf.chain, privateKey: issued.privateKey, trustBundle: issued.trustBundle }, owner);
      await publishBundle(issued.trustBundle);
      result = {
        issued: true,
        spiffeId: issued.leaf.spiffeId,
        reason,
        serialNumber: issued.leaf.serialNumber,
        notAfter: issued.leaf.notAfter,
        files,
      };
    }
    if (flags.reload && result.issued) result.reload = await reloadServer(request.identity, { redis, prisma });
    return result;
  },
  answer: (result) => ({
    issued: result.issued,
    spiffe_id: result.spiffeId,
    reason: result.reason,
    ...(result.serialNumber ? { serial_number: result.serialNumber } : {}),
    ...(result.notAfter ? { not_after: result.notAfter.toISOString() } : {}),
    files: result.files,
    ...(result.reload ? { reload: result.reload } : {}),
  }),
});
