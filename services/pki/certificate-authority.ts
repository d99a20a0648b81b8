import type { KeyObject } from 'node:crypto';
import type { PkiConfig } from '../platform/config/index.ts';
import type { PkiAuthority, PrismaClient } from '../platform/db/client.ts';
import { decryptPrivateKey, encryptPrivateKey } from '../signing-keys/key-crypto.ts';
import { createIntermediateCertificate, createRootCertificate, type NewAuthority } from './authority-certificates.ts';
import { checkLeafRequest, signLeaf, type LeafRequest } from './leaf-certificates.ts';
import { fingerprintOf, importSigningKey, privateKeyPem, spiffeIdOf, x509, type CryptoKey } from '../platform/tls/x509.ts';

/** pg_advisory_xact_lock key of every change to the CA: replicas of admin and maintenance take turns. */
const CA_LOCK = 0x41525453_504b49n; // "ARTS" "PKI"
const KEK_NAME = 'PKI_KEY_ENCRYPTION_KEY';
/** How long an issuer read from the database is used before it is read again (a rotation elsewhere also drops it). */
const ISSUER_CACHE_MS = 5000;

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export interface IssuedLeaf {
  /** The leaf, PEM. */
  certificate: string;
  /** The leaf then its intermediate, PEM: what a TLS endpoint presents. */
  chain: string;
  spiffeId: string;
  serialNumber: string;
  notAfter: Date;
  issuerFingerprint: string;
}

export type RotationOutcome =
  | { rotated: false; reason: string }
  | {
      rotated: true;
      kind: 'intermediate' | 'root';
      /** `retired`: a root tick with nothing due that retired authorities nothing valid chains to any more. */
      step: 'activated' | 'published' | 'promoted' | 'retired';
      fingerprint: string;
      previousFingerprint: string | null;
      retired: string[];
    };

export interface CertificateAuthority {
  /** Makes sure an active root and an active intermediate exist (the first start of a deployment creates them). */
  ensure(now?: Date): Promise<void>;
  /** The trust bundle: every root and intermediate that is not retired and not expired, PEM. */
  trustBundle(now?: Date): Promise<string>;
  /** Signs a workload certificate for `request.service`; the caller has checked that the requester may ask for it. */
  issue(request: LeafRequest, ttlSeconds?: number, now?: Date): Promise<IssuedLeaf>;
  /** A new intermediate when the active one is due (or `force`), the old one kept trusted until it expires. */
  rotateIntermediate(options?: { force?: boolean; now?: Date }): Promise<RotationOutcome>;
  /** Publishes the next root when the active one is due, and makes it the signer once it has been published long enough. */
  rotateRoot(options?: { force?: boolean; now?: Date }): Promise<RotationOutcome>;
  /** Forgets the cached issuer: another process rotated. */
  dropCached(): void;
}

const pem = (certificate: x509.X509Certificate) => certificate.toString('pem');
const parse = (row: Pick<PkiAuthority, 'certificate'>) => new x509.X509Certificate(row.certificate);

export function createCertificateAuthority(prisma: PrismaClient, config: PkiConfig): CertificateAuthority {
  const kek: KeyObject | undefined = config.keyEncryptionKey;
  const requireKek = () => {
    if (!kek) throw new Error(`${KEK_NAME} is not set: this process cannot use the CA's private keys`);
    return kek;
  };
  const signingKeyOf = (row: PkiAuthority) => importSigningKey(decryptPrivateKey(row.privateKey ?? '', row.fingerprint, requireKek(), KEK_NAME));

  async function store(tx: Tx, kind: 'root' | 'intermediate', state: 'next' | 'active', made: NewAuthority, issuerId: number | null, now: Date) {
    const fingerprint = fingerprintOf(made.certificate);
    return tx.pkiAuthority.create({
      data: {
        kind,
        state,
        fingerprint,
        certificate: pem(made.certificate),
        privateKey: encryptPrivateKey(await privateKeyPem(made.keys.privateKey), fingerprint, requireKek()),
        issuerId,
        notBefore: made.certificate.notBefore,
        notAfter: made.certificate.notAfter,
        // The CA's clock, not the database's: a next root's publish-ahead time is measured from here.
        createdAt: now,
        activatedAt: state === 'active' ? now : null,
      },
    });
  }

  /** Runs `change` holding the CA lock, so concurrent replicas see each other's rows and never both rotate. */
  const locked = <T>(change: (tx: Tx) => Promise<T>) =>
    prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CA_LOCK})`;
        return change(tx);
      },
      { timeout: 30_000, maxWait: 30_000 },
    );

  const active = (tx: Tx, kind: 'root' | 'intermediate') => tx.pkiAuthority.findFirst({ where: { kind, state: 'active' } });

  async function newIntermediate(tx: Tx, root: PkiAuthority, now: Date) {
    const made = await createIntermediateCertificate({ certificate: parse(root), signingKey: await signingKeyOf(root) }, now, config.intermediateTtlSeconds);
    return store(tx, 'intermediate', 'active', made, root.id, now);
  }

  /** Grace authorities nothing valid can chain to any more lose their private key and leave the bundle. */
  async function retireExpired(tx: Tx, now: Date): Promise<string[]> {
    const retired: string[] = [];
    const intermediates = await tx.pkiAuthority.findMany({ where: { kind: 'intermediate', state: 'grace', notAfter: { lte: now } } });
    const roots = await tx.pkiAuthority.findMany({ where: { kind: 'root', state: 'grace' } });
    for (const root of roots) {
      const living = await tx.pkiAuthority.count({
        where: { issuerId: root.id, notAfter: { gt: now }, id: { notIn: intermediates.map((row) => row.id) } },
      });
      if (living === 0 || root.notAfter <= now) intermediates.push(root);
    }
    for (const row of intermediates) {
      await tx.pkiAuthority.update({ where: { id: row.id }, data: { state: 'retired', privateKey: null, retiredAt: now } });
      retired.push(row.fingerprint);
    }
    return retired;
  }

  let cachedIssuer: { at: number; issuer: { certificate: x509.X509Certificate; signingKey: CryptoKey; fingerprint: string; pem: string } } | undefined;
  async function issuer() {
    if (cachedIssuer && Date.now() - cachedIssuer.at < ISSUER_CACHE_MS) return cachedIssuer.issuer;
    const row = await prisma.pkiAuthority.findFirst({ where: { kind: 'intermediate', state: 'active' } });
    if (!row) throw new Error('the CA has no active intermediate: it was never set up (admin does at start) or its rows were removed');
    const value = { certificate: parse(row), signingKey: await signingKeyOf(row), fingerprint: row.fingerprint, pem: row.certificate };
    cachedIssuer = { at: Date.now(), issuer: value };
    return value;
  }

  return {
    async ensure(now = new Date()) {
      await locked(async (tx) => {
        let root = await active(tx, 'root');
        root ??= await store(tx, 'root', 'active', await createRootCertificate(now, config.rootTtlSeconds), null, now);
        if (!(await active(tx, 'intermediate'))) await newIntermediate(tx, root, now);
      });
    },

    async trustBundle(now = new Date()) {
      const rows = await prisma.pkiAuthority.findMany({
        where: { state: { in: ['next', 'active', 'grace'] }, notAfter: { gt: now } },
        orderBy: [{ kind: 'asc' }, { id: 'asc' }],
      });
      return rows.map((row) => `# ${row.kind} ${row.state} sha256:${row.fingerprint}\n${row.certificate.trim()}\n`).join('');
    },

    async issue(request, ttlSeconds = config.leafTtlSeconds, now = new Date()) {
      const checked = await checkLeafRequest(request);
      const signer = await issuer();
      // A leaf cut to an expired issuer's end would be dead on arrival, and its holder would ask again at once, forever.
      if (signer.certificate.notAfter <= now) {
        throw new Error(`the active intermediate expired at ${signer.certificate.notAfter.toISOString()}: the CA's intermediate rotation has not run`);
      }
      const leaf = await signLeaf(signer, request.service, checked, now, ttlSeconds);
      const certificate = pem(leaf);
      return {
        certificate,
        chain: `${certificate.trim()}\n${signer.pem.trim()}\n`,
        spiffeId: spiffeIdOf(request.service),
        serialNumber: leaf.serialNumber,
        notAfter: leaf.notAfter,
        issuerFingerprint: signer.fingerprint,
      };
    },

    async rotateIntermediate({ force = false, now = new Date() } = {}) {
      const outcome = await locked(async (tx): Promise<RotationOutcome> => {
        const root = await active(tx, 'root');
        if (!root) return { rotated: false, reason: 'no active root' };
        const current = await active(tx, 'intermediate');
        const age = current?.activatedAt ? now.getTime() - current.activatedAt.getTime() : Number.POSITIVE_INFINITY;
        const due = force || !current || current.issuerId !== root.id || age >= config.intermediateRotateSeconds * 1000;
        if (!due) return { rotated: false, reason: 'not due' };
        if (current) await tx.pkiAuthority.update({ where: { id: current.id }, data: { state: 'grace', deactivatedAt: now } });
        const made = await newIntermediate(tx, root, now);
        const retired = await retireExpired(tx, now);
        return {
          rotated: true,
          kind: 'intermediate',
          step: 'activated',
          fingerprint: made.fingerprint,
          previousFingerprint: current?.fingerprint ?? null,
          retired,
        };
      });
      if (outcome.rotated) cachedIssuer = undefined;
      return outcome;
    },

    async rotateRoot({ force = false, now = new Date() } = {}) {
      const outcome = await locked(async (tx): Promise<RotationOutcome> => {
        const root = await active(tx, 'root');
        if (!root) return { rotated: false, reason: 'no active root' };
        const next = await tx.pkiAuthority.findFirst({ where: { kind: 'root', state: 'next' } });
        if (next) {
          const published = now.getTime() - next.createdAt.getTime();
          if (published < config.rootPublishAheadSeconds * 1000) return { rotated: false, reason: 'the next root is not yet published long enough' };
          await tx.pkiAuthority.update({ where: { id: root.id }, data: { state: 'grace', deactivatedAt: now } });
          const promoted = await tx.pkiAuthority.update({ where: { id: next.id }, data: { state: 'active', activatedAt: now } });
          // The new root signs from now on: an intermediate under it at once, the old one in grace.
          const current = await active(tx, 'intermediate');
          if (current) await tx.pkiAuthority.update({ where: { id: current.id }, data: { state: 'grace', deactivatedAt: now } });
          await newIntermediate(tx, promoted, now);
          const retired = await retireExpired(tx, now);
          return { rotated: true, kind: 'root', step: 'promoted', fingerprint: promoted.fingerprint, previousFingerprint: root.fingerprint, retired };
        }
        const age = now.getTime() - (root.activatedAt ?? root.createdAt).getTime();
        const due = force || age >= (config.rootRotateSeconds - config.rootPublishAheadSeconds) * 1000;
        if (!due) {
          const retired = await retireExpired(tx, now);
          return retired.length
            ? { rotated: true, kind: 'root', step: 'retired', fingerprint: root.fingerprint, previousFingerprint: null, retired }
            : { rotated: false, reason: 'not due' };
        }
        const made = await store(tx, 'root', 'next', await createRootCertificate(now, config.rootTtlSeconds), null, now);
        return { rotated: true, kind: 'root', step: 'published', fingerprint: made.fingerprint, previousFingerprint: root.fingerprint, retired: [] };
      });
      if (outcome.rotated) cachedIssuer = undefined;
      return outcome;
    },

    dropCached() {
      cachedIssuer = undefined;
    },
  };
}
