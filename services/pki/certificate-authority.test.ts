import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parsePki } from '../platform/config/tls.ts';
import { createPrismaClient, type PkiAuthority, type PrismaClient } from '../platform/db/client.ts';
import { createLeafRequest } from '../platform/tls/certificate-request.ts';
import { generateKeyPair, x509 } from '../platform/tls/x509.ts';
import { decryptPrivateKey, KeyDecryptionError } from '../signing-keys/key-crypto.ts';
import { testInfra } from '../../test/support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/test-databases.ts';
import { createCertificateAuthority, type CertificateAuthority } from './certificate-authority.ts';

const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;
const later = (from: Date, ms: number) => new Date(from.getTime() + ms);

/**
 * The CA's state machine on real PostgreSQL, its clock driven through the `now` each call takes.
 * A database of its own: these tests create, rotate and retire roots that no module must trust.
 * Lifetimes are the defaults (leaf 1 d; intermediate 60 d, rotated at 30 d; root 10 y, rotated at
 * 5 y after 7 d published).
 */
describe('the certificate authority on PostgreSQL', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let prisma: PrismaClient;
  const kek = randomBytes(32).toString('hex');
  const config = parsePki({ PKI_KEY_ENCRYPTION_KEY: kek });
  let ca: CertificateAuthority;
  let t0: Date;

  const rows = () => prisma.pkiAuthority.findMany({ orderBy: { id: 'asc' } });
  const one = async (where: Partial<Pick<PkiAuthority, 'kind' | 'state'>>) => {
    const found = await prisma.pkiAuthority.findMany({ where });
    assert.equal(found.length, 1, `exactly one ${where.state ?? ''} ${where.kind ?? ''}: ${found.map((r) => `${r.kind} ${r.state}`).join(', ')}`);
    return found[0]!;
  };
  const bundleFingerprints = async (now: Date) => [...(await ca.trustBundle(now)).matchAll(/sha256:([0-9a-f]{64})/g)].map((m) => m[1]);
  const leafAt = async (now: Date, ttlSeconds?: number) =>
    ca.issue({ csrPem: await createLeafRequest('ingester', await generateKeyPair(), []), service: 'ingester' }, ttlSeconds, now);

  before(async () => {
    database = await createTestDatabase(testInfra().databaseUrl);
    prisma = createPrismaClient(database.url);
  });
  beforeEach(async () => {
    await prisma.$executeRawUnsafe('TRUNCATE pki_authorities');
    ca = createCertificateAuthority(prisma, config);
    t0 = new Date();
  });
  after(async () => {
    await prisma?.$disconnect();
    await database?.drop();
  });

  it('when ensure() runs twice and then four times at once from two processes, then there is exactly one root and one intermediate under it', async () => {
    await ca.ensure(t0);
    await ca.ensure(t0);
    const other = createPrismaClient(database.url);
    try {
      const elsewhere = createCertificateAuthority(other, config);
      await Promise.all([ca.ensure(t0), elsewhere.ensure(t0), ca.ensure(t0), elsewhere.ensure(t0)]);
    } finally {
      await other.$disconnect();
    }
    const all = await rows();
    assert.deepEqual(
      all.map((r) => `${r.kind} ${r.state}`),
      ['root active', 'intermediate active'],
    );
    assert.equal(all[1]!.issuerId, all[0]!.id);
    assert.deepEqual(new Set(await bundleFingerprints(t0)), new Set(all.map((r) => r.fingerprint)));
  });

  it('when four processes set up an empty CA at the same moment, then one root and one intermediate exist', async () => {
    const clients = Array.from({ length: 4 }, () => createPrismaClient(database.url));
    try {
      await Promise.all(clients.map((client) => createCertificateAuthority(client, config).ensure(t0)));
    } finally {
      await Promise.all(clients.map((client) => client.$disconnect()));
    }
    assert.deepEqual(
      (await rows()).map((r) => `${r.kind} ${r.state}`),
      ['root active', 'intermediate active'],
    );
  });

  it('when the intermediate is not due, then a tick changes nothing; when due, the old one stays trusted in grace until it expires and then retires without its key', async () => {
    await ca.ensure(t0);
    const first = await one({ kind: 'intermediate', state: 'active' });
    const before = await rows();

    assert.deepEqual(await ca.rotateIntermediate({ now: later(t0, 29 * DAY_MS) }), { rotated: false, reason: 'not due' });
    assert.deepEqual(await rows(), before);

    const rotatedAt = later(t0, 30 * DAY_MS);
    const rotation = await ca.rotateIntermediate({ now: rotatedAt });
    assert.equal(rotation.rotated && rotation.previousFingerprint, first.fingerprint);
    const second = await one({ kind: 'intermediate', state: 'active' });
    assert.equal(second.issuerId, first.issuerId);
    const graced = await prisma.pkiAuthority.findUniqueOrThrow({ where: { id: first.id } });
    assert.equal(graced.state, 'grace');
    assert.ok(graced.privateKey, 'a grace intermediate keeps its key until it retires');
    assert.ok((await bundleFingerprints(rotatedAt)).includes(first.fingerprint), 'the old intermediate stays in the bundle');
    assert.equal((await leafAt(rotatedAt)).issuerFingerprint, second.fingerprint, 'leaves come from the new intermediate at once');

    // Past its expiry it is out of the bundle at once, and the next tick that changes the CA retires it.
    const expired = later(first.notAfter, 1000);
    assert.ok(!(await bundleFingerprints(expired)).includes(first.fingerprint));
    const rootTick = await ca.rotateRoot({ now: expired });
    assert.ok(rootTick.rotated && rootTick.step === 'retired', JSON.stringify(rootTick));
    assert.deepEqual(rootTick.retired, [first.fingerprint]);
    const retired = await prisma.pkiAuthority.findUniqueOrThrow({ where: { id: first.id } });
    assert.equal(retired.state, 'retired');
    assert.equal(retired.privateKey, null);
    assert.deepEqual(retired.retiredAt, expired);
  });

  it('when an intermediate rotation comes after the one before it expired, then that rotation retires it', async () => {
    await ca.ensure(t0);
    const first = await one({ kind: 'intermediate', state: 'active' });
    await ca.rotateIntermediate({ now: later(t0, 30 * DAY_MS) });
    const third = await ca.rotateIntermediate({ now: later(first.notAfter, 3_600_000) });
    assert.ok(third.rotated);
    assert.deepEqual(third.retired, [first.fingerprint]);
    assert.deepEqual(
      (await rows()).map((r) => `${r.kind} ${r.state}`),
      ['root active', 'intermediate retired', 'intermediate grace', 'intermediate active'],
    );
  });

  it('when the root is due, then its successor is published first, promoted only after the publish-ahead time, and the old root retires once its intermediates have expired', async () => {
    await ca.ensure(t0);
    const oldRoot = await one({ kind: 'root', state: 'active' });

    assert.deepEqual(await ca.rotateRoot({ now: later(t0, YEAR_MS) }), { rotated: false, reason: 'not due' });

    // An intermediate of the old root is fresh when the root's turn comes, as the hourly rotation keeps it.
    const publishAt = later(t0, 5 * YEAR_MS - 7 * DAY_MS);
    await ca.rotateIntermediate({ force: true, now: later(publishAt, -DAY_MS) });
    const oldIntermediate = await one({ kind: 'intermediate', state: 'active' });

    const published = await ca.rotateRoot({ now: publishAt });
    assert.ok(published.rotated && published.step === 'published', JSON.stringify(published));
    const nextRoot = await one({ kind: 'root', state: 'next' });
    assert.equal((await one({ kind: 'root', state: 'active' })).id, oldRoot.id, 'the old root still signs');
    assert.equal((await one({ kind: 'intermediate', state: 'active' })).id, oldIntermediate.id, 'the intermediate is unchanged');
    assert.ok((await bundleFingerprints(publishAt)).includes(nextRoot.fingerprint), 'the next root is in the bundle');
    assert.equal((await leafAt(publishAt)).issuerFingerprint, oldIntermediate.fingerprint);

    for (const early of [later(publishAt, 3_600_000), later(publishAt, 7 * DAY_MS - 60_000)]) {
      for (const force of [false, true]) {
        const refused = await ca.rotateRoot({ force, now: early });
        assert.deepEqual(refused, { rotated: false, reason: 'the next root is not yet published long enough' }, `force ${force} at ${early.toISOString()}`);
      }
    }
    assert.equal((await one({ kind: 'root', state: 'next' })).id, nextRoot.id);

    const promoteAt = later(publishAt, 7 * DAY_MS);
    const promoted = await ca.rotateRoot({ now: promoteAt });
    assert.ok(promoted.rotated && promoted.step === 'promoted', JSON.stringify(promoted));
    assert.equal((await one({ kind: 'root', state: 'active' })).id, nextRoot.id);
    const newIntermediate = await one({ kind: 'intermediate', state: 'active' });
    assert.equal(newIntermediate.issuerId, nextRoot.id, 'the new intermediate is under the new root');
    assert.equal((await prisma.pkiAuthority.findUniqueOrThrow({ where: { id: oldRoot.id } })).state, 'grace');
    assert.equal((await prisma.pkiAuthority.findUniqueOrThrow({ where: { id: oldIntermediate.id } })).state, 'grace');
    const bundle = await bundleFingerprints(promoteAt);
    for (const row of [oldRoot, oldIntermediate, nextRoot, newIntermediate]) assert.ok(bundle.includes(row.fingerprint), `${row.kind} ${row.id} in the bundle`);
    const leaf = await leafAt(promoteAt);
    assert.equal(leaf.issuerFingerprint, newIntermediate.fingerprint);
    const [leafPem, intermediatePem] = leaf.chain.split(/(?<=-----END CERTIFICATE-----)\n/);
    assert.ok(await new x509.X509Certificate(leafPem!).verify({ publicKey: new x509.X509Certificate(intermediatePem!).publicKey, date: promoteAt }));

    // While an intermediate of the old root lives, the old root stays; after, the daily tick retires both.
    assert.deepEqual(await ca.rotateRoot({ now: later(promoteAt, DAY_MS) }), { rotated: false, reason: 'not due' });
    const afterAll = later(oldIntermediate.notAfter, 1000);
    const retiring = await ca.rotateRoot({ now: afterAll });
    assert.ok(retiring.rotated && retiring.step === 'retired', JSON.stringify(retiring));
    assert.deepEqual(new Set(retiring.retired), new Set([oldIntermediate.fingerprint, oldRoot.fingerprint]));
    for (const id of [oldRoot.id, oldIntermediate.id]) {
      const row = await prisma.pkiAuthority.findUniqueOrThrow({ where: { id } });
      assert.equal(row.state, 'retired');
      assert.equal(row.privateKey, null, `${row.kind} ${row.id} has no private key once retired`);
    }
    assert.deepEqual(new Set(await bundleFingerprints(afterAll)), new Set([nextRoot.fingerprint, newIntermediate.fingerprint]));
  });

  it('when a row is read with another key-encryption key, then its private key does not decrypt, and a CA under that key issues nothing', async () => {
    await ca.ensure(t0);
    const otherKek = parsePki({ PKI_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex') }).keyEncryptionKey!;
    for (const row of await rows()) {
      assert.doesNotMatch(row.privateKey!, /PRIVATE KEY|^MI/, 'no plain PEM or DER at rest');
      assert.match(decryptPrivateKey(row.privateKey!, row.fingerprint, config.keyEncryptionKey!, 'PKI_KEY_ENCRYPTION_KEY'), /BEGIN PRIVATE KEY/);
      assert.throws(() => decryptPrivateKey(row.privateKey!, row.fingerprint, otherKek, 'PKI_KEY_ENCRYPTION_KEY'), KeyDecryptionError);
    }
    // A ciphertext moved to another row does not decrypt there either (the fingerprint is bound to it).
    const [root, intermediate] = await rows();
    assert.throws(() => decryptPrivateKey(root!.privateKey!, intermediate!.fingerprint, config.keyEncryptionKey!), KeyDecryptionError);
    const impostor = createCertificateAuthority(prisma, { ...config, keyEncryptionKey: otherKek });
    await assert.rejects(leafAtWith(impostor, t0), KeyDecryptionError);
  });

  it('when a leaf or an intermediate would outlive its issuer, then it ends with the issuer instead', async () => {
    await ca.ensure(t0);
    const intermediate = await one({ kind: 'intermediate', state: 'active' });
    const leaf = await leafAt(later(intermediate.notAfter, -3_600_000), 7 * 86_400);
    assert.deepEqual(leaf.notAfter, intermediate.notAfter);

    const root = await one({ kind: 'root', state: 'active' });
    await ca.rotateIntermediate({ force: true, now: later(root.notAfter, -10 * DAY_MS) });
    assert.deepEqual((await one({ kind: 'intermediate', state: 'active' })).notAfter, root.notAfter);
  });

  it('when the active intermediate has expired (its rotation never ran), then the CA refuses to issue rather than sign a leaf that is dead on arrival', async () => {
    await ca.ensure(t0);
    const intermediate = await one({ kind: 'intermediate', state: 'active' });
    await assert.rejects(leafAt(later(intermediate.notAfter, 1000)), /expired/);
  });
});

async function leafAtWith(ca: CertificateAuthority, now: Date) {
  return ca.issue({ csrPem: await createLeafRequest('ingester', await generateKeyPair(), []), service: 'ingester' }, undefined, now);
}
