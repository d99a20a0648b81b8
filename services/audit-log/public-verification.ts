/**
 * Verification with nothing secret (docs/AUDIT_LOGGING.md, "Verifying with public keys only"): the
 * published digest keys, the digests kept outside the database, and the records. No HMAC key is
 * needed — each record's Merkle leaf covers it whole, signature included, and every digest signs a
 * tree root — so an outside auditor, or a monitor, finds every change that needs no key to make:
 * a record altered, removed, added or reordered, a chain cut short, a head or an anchor rewritten.
 * What it cannot see is a forgery made with the HMAC key after the last digest.
 */
import pg from 'pg';
import type { AuditRecord } from './audit-signature.ts';
import type { ChainBreak, ChainBreakKind } from './chain-walk.ts';
import type { AnchorDigest, AuditDigest } from './digests/digest-format.ts';
import { type PublishedDigestKey, verifyDigestChain } from './digests/digest-verification.ts';
import { createFrontier, type MerkleFrontier } from './merkle/frontier.ts';
import { CHAINS_WITH_RECORDS } from './verify-chain.ts';
import { recordLeafHash } from './record-leaf.ts';

export type PublicBreakKind = ChainBreakKind | 'digest_invalid' | 'unattested';

export interface PublicBreak extends Omit<ChainBreak, 'kind'> {
  kind: PublicBreakKind;
}

export interface PublicChainReport {
  chain_id: number;
  digests_checked: number;
  records_checked: number;
  /** The largest tree size a signed digest vouches for and the records matched. */
  attested_size: number;
  /** Records after the newest digest: not yet covered by any signature. */
  unattested_records: number;
  breaks: number;
  first_break: PublicBreak | null;
}

export interface PublicReport {
  ok: boolean;
  records_checked: number;
  breaks: number;
  first_break: PublicBreak | null;
  chains: PublicChainReport[];
}

export interface PublicVerifyOptions {
  /** A digest saved earlier (a monitor's last look): today's log must extend it. */
  sinceDigest?: AuditDigest;
  /** Records younger than this may have no digest yet. @defaultValue 2 hours */
  attestationGraceMs?: number;
  now?: Date;
  /** @defaultValue 10000 */
  pageSize?: number;
  onProgress?: (progress: { chain_id: number; checked: number }) => void;
  /** Only these chains. @defaultValue every chain with records or digests */
  chainIds?: number[];
}

const DEFAULT_GRACE_MS = 2 * 3600_000;

/** The frontier of the first `size` leaves, from the stored complete subtrees that cover them. */
/**
 * The columns of a record as text, timestamps already in the signed form: an outside auditor's
 * read, and about twice as fast as going through Prisma's types (the read is half of the work).
 */
const RECORD_TEXT_COLUMNS = `event_id::text AS event_id, event_type, event_category,
  to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "timestamp", user_id, service_account_id,
  ip_address, user_agent, resource_type, resource_id, action, status, details::text AS details, source, request_id,
  chain_id, sequence::text AS sequence, prev_signature, key_id, signature,
  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at`;

type TextRow = Omit<AuditRecord, 'details' | 'sequence'> & { details: string | null; sequence: string };

const recordOf = (row: TextRow): AuditRecord => ({ ...row, details: row.details === null ? null : JSON.parse(row.details), sequence: Number(row.sequence) });

async function frontierFromNodes(db: pg.Client, chainId: number, size: number): Promise<MerkleFrontier | undefined> {
  const wanted: { level: number; index: number }[] = [];
  let covered = 0;
  for (let level = 52; level >= 0; level--) {
    const width = 2 ** level;
    if (size - covered >= width) {
      wanted.push({ level, index: covered / width });
      covered += width;
    }
  }
  if (wanted.length === 0) return createFrontier();
  const { rows } = await db.query<{ level: number; idx: string; hash: Buffer }>(
    `SELECT w.level, w.idx::text AS idx, n.hash FROM unnest($2::smallint[], $3::bigint[]) AS w(level, idx)
       CROSS JOIN LATERAL (SELECT hash FROM audit_tree_nodes t WHERE t.chain_id = $1::int AND t.level = w.level AND t.idx = w.idx) AS n`,
    [chainId, wanted.map((w) => w.level), wanted.map((w) => w.index)],
  );
  const byId = new Map(rows.map((r) => [`${r.level}:${r.idx}`, Buffer.from(r.hash)]));
  const edge = wanted.map((w) => byId.get(`${w.level}:${w.index}`));
  if (edge.some((hash) => hash === undefined)) return undefined;
  return createFrontier(`${size}:${Buffer.concat(edge as Buffer[]).toString('base64url')}`);
}

async function chainsWithRecords(db: pg.Client): Promise<number[]> {
  return (await db.query<{ chain_id: number }>(CHAINS_WITH_RECORDS)).rows.map((r) => r.chain_id);
}

async function verifyChainPublicly(
  db: pg.Client,
  chainId: number,
  digests: AuditDigest[],
  keys: readonly PublishedDigestKey[],
  options: PublicVerifyOptions,
): Promise<PublicChainReport> {
  const breaks: PublicBreak[] = [];
  const brk = (kind: PublicBreakKind, sequence: number, message: string, eventId: string | null = null) =>
    breaks.push({ kind, chain_id: chainId, sequence, event_id: eventId, message });

  const digestReport = verifyDigestChain(digests, keys, { fromFirst: true });
  for (const problem of digestReport.problems)
    brk('digest_invalid', digests[problem.index]?.last_sequence ?? 0, `digest ${problem.index + 1}: ${problem.message}`);
  const bad = new Set(digestReport.problems.map((p) => p.index));
  const trusted = digests.filter((_, i) => !bad.has(i));
  if (options.sinceDigest) {
    const saved = verifyDigestChain([options.sinceDigest], keys);
    if (!saved.ok) brk('digest_invalid', options.sinceDigest.last_sequence, `the saved digest: ${saved.problems[0]?.message}`);
    else trusted.push(options.sinceDigest);
  }

  // Where the records start: at 1, or after the anchor a signed anchor digest names.
  const anchor = trusted.filter((d): d is AnchorDigest => d.kind === 'anchor').at(-1);
  const start = anchor?.anchor_sequence ?? 0;
  const frontier = await frontierFromNodes(db, chainId, start);
  if (!frontier) brk('deleted', start, `the tree nodes covering records 1 to ${start}, which retention deleted, are missing`);
  const checkpoints = new Map<number, AuditDigest>();
  for (const digest of trusted) if (digest.tree_size > start) checkpoints.set(digest.tree_size, digest);
  const sizes = [...checkpoints.keys()].sort((a, b) => a - b);
  const newest = sizes.at(-1) ?? start;

  let expected = start + 1;
  let previousSignature: string | null | undefined = anchor ? anchor.anchor_signature : start === 0 ? null : undefined;
  let treeIntact = frontier !== undefined;
  let attested = start;
  let checked = 0;
  let unattestedOld = false;
  const graceStart = (options.now ?? new Date()).getTime() - (options.attestationGraceMs ?? DEFAULT_GRACE_MS);
  const pageSize = options.pageSize ?? 10_000;
  const judge = (record: AuditRecord) => {
    checked++;
    const s = record.sequence;
    if (s < expected) {
      brk(
        'inserted',
        s,
        s <= start ? `a record claims sequence ${s}, which the signed anchor says retention deleted` : `a second record claims sequence ${s}`,
        record.event_id,
      );
      return;
    }
    if (s > expected) {
      brk('deleted', expected, s - expected === 1 ? `record ${expected} is missing` : `records ${expected} to ${s - 1} are missing`);
      treeIntact = false;
      previousSignature = undefined;
    }
    if (previousSignature !== undefined && record.prev_signature !== previousSignature) {
      brk('modified', s - 1, `record ${s} is chained to another record ${s - 1} than the one stored`, record.event_id);
    }
    previousSignature = record.signature;
    expected = s + 1;
    if (s > newest && Date.parse(record.recorded_at) < graceStart) unattestedOld = true;
    if (!treeIntact) return;
    frontier!.append(recordLeafHash(record));
    const digest = checkpoints.get(frontier!.size);
    if (!digest) return;
    if (frontier!.root().toString('hex') !== digest.root_hash || record.signature !== digest.last_signature) {
      const from = sizes.filter((size) => size < frontier!.size).at(-1) ?? start;
      brk('modified', from + 1, `records ${from + 1} to ${frontier!.size} are not the ones the digest of ${digest.issued_at} signed`);
      treeIntact = false;
    } else attested = frontier!.size;
  };
  const read = async (where: string, ...params: unknown[]) =>
    (
      await db.query<TextRow>(
        `SELECT ${RECORD_TEXT_COLUMNS} FROM audit_logs WHERE chain_id = $1::int AND ${where} ORDER BY audit_logs.sequence, audit_logs.event_id`,
        [chainId, ...params],
      )
    ).rows;
  // Rows at or below where the chain starts first (none may exist), then the chain a range of sequences at a time.
  for (const row of await read('sequence <= $2::bigint', start)) judge(recordOf(row));
  const { rows: top } = await db.query<{ s: string | null }>('SELECT max(sequence)::text AS s FROM audit_logs WHERE chain_id = $1::int', [chainId]);
  const last = Number(top[0]?.s ?? 0);
  const page = (lo: number) => {
    if (lo > last) return undefined;
    const rows = read('sequence >= $2::bigint AND sequence < $3::bigint', lo, lo + pageSize);
    // Awaited a page later; a failure meanwhile must not count as unhandled.
    rows.catch(() => undefined);
    return rows;
  };
  // The next page is asked for before this one is hashed, so PostgreSQL reads while Node hashes.
  let next = page(start + 1);
  for (let lo = start + 1; next; lo += pageSize) {
    const rows = await next;
    next = page(lo + pageSize);
    for (const row of rows) judge(recordOf(row));
    options.onProgress?.({ chain_id: chainId, checked });
  }
  const end = expected - 1;
  if (end < newest) brk('truncated', end + 1, `the chain ends at ${end} but a signed digest covers ${newest} records`);
  if (unattestedOld) brk('unattested', newest + 1, `records after ${newest} are older than any digest should allow, yet no signed digest covers them`);
  breaks.sort((a, b) => a.sequence - b.sequence);
  return {
    chain_id: chainId,
    digests_checked: digests.length,
    records_checked: checked,
    attested_size: attested,
    unattested_records: Math.max(0, end - newest),
    breaks: breaks.length,
    first_break: breaks[0] ?? null,
  };
}

/**
 * Verifies every chain that has records or digests against the digests and published keys alone.
 * `digests` are every digest kept outside the database (any chain, in file order).
 */
export async function verifyAuditLogPublicly(
  databaseUrl: string,
  digests: readonly AuditDigest[],
  keys: readonly PublishedDigestKey[],
  options: PublicVerifyOptions = {},
): Promise<PublicReport> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    return await verifyAll(db, digests, keys, options);
  } finally {
    await db.end();
  }
}

async function verifyAll(
  db: pg.Client,
  digests: readonly AuditDigest[],
  keys: readonly PublishedDigestKey[],
  options: PublicVerifyOptions,
): Promise<PublicReport> {
  const byChain = new Map<number, AuditDigest[]>();
  for (const digest of digests) byChain.set(digest.chain_id, [...(byChain.get(digest.chain_id) ?? []), digest]);
  const chainIds = [...new Set([...byChain.keys(), ...(await chainsWithRecords(db))])]
    .filter((id) => !options.chainIds || options.chainIds.includes(id))
    .sort((a, b) => a - b);
  const chains: PublicChainReport[] = [];
  for (const chainId of chainIds) {
    const since = options.sinceDigest?.chain_id === chainId ? options.sinceDigest : undefined;
    chains.push(await verifyChainPublicly(db, chainId, byChain.get(chainId) ?? [], keys, { ...options, sinceDigest: since }));
  }
  const firstBreaks = chains.map((c) => c.first_break).filter((b): b is PublicBreak => b !== null);
  const breaks = chains.reduce((n, c) => n + c.breaks, 0);
  return { ok: breaks === 0, records_checked: chains.reduce((n, c) => n + c.records_checked, 0), breaks, first_break: firstBreaks[0] ?? null, chains };
}
