/**
 * The digest sink outside PostgreSQL: an append-only directory, `<dir>/<chain>/digests-YYYYMMDDTHH.ndjson`
 * (UTC hour of issued_at, so names sort by time), one digest per line, each file fsynced after it is
 * appended to and the directory when a file is new. The table is the source of the digests' order;
 * the sink follows it: under the chain's digest lock it finds the last digest it holds and appends
 * every later one from the table, so a crash between the two writes is repaired by the next run and
 * the sink never misses a digest nor holds one twice.
 */
import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { PrismaClient } from '../../platform/db/client.ts';
import { fsyncDirectory } from '../../platform/fsync-directory.ts';
import { auditDigestSchema, type AuditDigest } from './digest-format.ts';
import { digestsAfter, lockDigestChain, seqOfSignature, type StoredDigest } from './digest-store.ts';

const DIGEST_FILE = /^digests-\d{8}T\d{2}\.ndjson$/;
const CATCH_UP_BATCH = 1000;

/** The sink's last digest is not in the table: the table lost digests (restored, rolled back or edited). */
export class DigestSinkMismatchError extends Error {
  readonly code = 'ERR_AUDIT_DIGEST_SINK_MISMATCH';
  constructor(
    readonly chainId: number,
    readonly signature: string,
  ) {
    super(`chain ${chainId}: the digest sink's last digest (signature ${signature}) is not in audit_digests; the table lost digests the sink holds`);
    this.name = 'DigestSinkMismatchError';
  }
}

/** `digests-20261128T09.ndjson` for a digest issued at 2026-11-28T09:…Z. */
export function digestFileName(issuedAt: string): string {
  const [date = '', time = ''] = issuedAt.split('T');
  return `digests-${date.replaceAll('-', '')}T${time.slice(0, 2)}.ndjson`;
}

export const chainDirectory = (dir: string, chainId: number) => path.join(dir, String(chainId));

/** The chain's digest files, oldest first. */
export async function digestFiles(chainDir: string): Promise<string[]> {
  const names = await readdir(chainDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return names.filter((name) => DIGEST_FILE.test(name)).sort();
}

function parseLine(line: string, chainId: number): AuditDigest | undefined {
  try {
    const parsed = auditDigestSchema.safeParse(JSON.parse(line));
    return parsed.success && parsed.data.chain_id === chainId ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The newest whole digest line in the chain's files; a line cut short by a crash is passed over. */
async function lastDigestInSink(chainDir: string, chainId: number): Promise<AuditDigest | undefined> {
  for (const name of (await digestFiles(chainDir)).reverse()) {
    const lines = (await readFile(path.join(chainDir, name), 'utf8')).split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const digest = lines[i] ? parseLine(lines[i]!, chainId) : undefined;
      if (digest) return digest;
    }
  }
  return undefined;
}

async function ensureDirectory(chainDir: string): Promise<void> {
  const firstCreated = await mkdir(chainDir, { recursive: true, mode: 0o750 });
  if (!firstCreated) return;
  // Every directory entry made on the way becomes durable: its parent is fsynced.
  for (let created = chainDir; created.startsWith(firstCreated); created = path.dirname(created)) await fsyncDirectory(path.dirname(created));
}

/** Appends lines to one file and fsyncs it; a torn last line left by a crash is ended first so it stays a line of its own. */
async function appendLines(chainDir: string, name: string, lines: string[]): Promise<void> {
  const file = path.join(chainDir, name);
  const isNew = await stat(file).then(
    () => false,
    () => true,
  );
  const handle = await open(file, 'a+', 0o640);
  try {
    const { size } = await handle.stat();
    const last = Buffer.alloc(1);
    if (size > 0) await handle.read(last, 0, 1, size - 1);
    const prefix = size > 0 && last[0] !== 0x0a ? '\n' : '';
    await handle.write(`${prefix}${lines.join('\n')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (isNew) await fsyncDirectory(chainDir);
}

async function appendInFileOrder(chainDir: string, digests: StoredDigest[]): Promise<void> {
  let start = 0;
  while (start < digests.length) {
    const name = digestFileName(digests[start]!.digest.issued_at);
    let end = start + 1;
    while (end < digests.length && digestFileName(digests[end]!.digest.issued_at) === name) end++;
    await appendLines(
      chainDir,
      name,
      digests.slice(start, end).map((d) => d.body),
    );
    start = end;
  }
}

/** Appends to the sink every digest of the chain the table holds after the sink's last one; returns how many. */
export async function syncDigestSink(prisma: PrismaClient, dir: string, chainId: number): Promise<number> {
  const chainDir = chainDirectory(dir, chainId);
  return prisma.$transaction(
    async (tx) => {
      await lockDigestChain(tx, chainId);
      const written = await lastDigestInSink(chainDir, chainId);
      let after = 0;
      if (written) {
        const seq = await seqOfSignature(tx, chainId, written.signature);
        if (seq === undefined) throw new DigestSinkMismatchError(chainId, written.signature);
        after = seq;
      }
      let appended = 0;
      for (;;) {
        const batch = await digestsAfter(tx, chainId, after, CATCH_UP_BATCH);
        if (batch.length === 0) return appended;
        if (appended === 0) await ensureDirectory(chainDir);
        await appendInFileOrder(chainDir, batch);
        appended += batch.length;
        after = batch.at(-1)!.seq;
      }
    },
    { maxWait: 10_000, timeout: 120_000 },
  );
}
