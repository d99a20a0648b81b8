import { mkdir, open, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../platform/logger.ts';
import { fsyncDirectory } from '../platform/fsync-directory.ts';
import { auditEventSchema, type AuditEvent } from './events.ts';

/**
 * The local durable spool of one process: audit events that could not be queued, one JSON line each.
 * `append` resolves only after the line is fsynced; `replay` hands the lines to the queue in file
 * order and moves a persisted offset past them only once they are queued, so a crash replays a line
 * again (the jobId, and the writer's unique event_id, make that harmless) but never skips one.
 * When everything is replayed the file is emptied.
 *
 * Files in `dir`: `<name>.ndjson` (events), `<name>.offset` (bytes replayed), `<name>.lock` (pid of
 * the owning process), `<name>.rejected.ndjson` (lines that were not valid events, kept for a human).
 */
export interface AuditSpool {
  /** Lines appended and not yet replayed. */
  hasBacklog(): boolean;
  /** Bytes waiting to be replayed. */
  backlogBytes(): number;
  append(event: AuditEvent): Promise<void>;
  /**
   * Hands the pending events to `deliver` in order, in chunks; stops at the first chunk `deliver`
   * rejects (the rejection propagates). Resolves true once the spool is empty.
   */
  replay(deliver: (events: AuditEvent[]) => Promise<void>): Promise<boolean>;
  close(): Promise<void>;
}

/** A full disk must not take the host down with it: past this size a spool refuses new lines. */
export const MAX_SPOOL_BYTES = 512 * 2 ** 20;
const REPLAY_CHUNK_EVENTS = 200;
const READ_CHUNK_BYTES = 1 << 20;

/** Several in-process instances of one service (tests) share one spool object per file. */
const openSpools = new Map<string, { spool: AuditSpool; users: number; replaying: Promise<boolean> | undefined }>();

export async function openAuditSpool(dir: string, name: string, logger: Logger): Promise<AuditSpool> {
  const file = path.join(dir, `${name}.ndjson`);
  let entry = openSpools.get(file);
  if (!entry) {
    entry = { spool: await createSpool(dir, name, logger, () => openSpools.delete(file)), users: 0, replaying: undefined };
    openSpools.set(file, entry);
  }
  entry.users += 1;
  const shared = entry;
  let closed = false;
  return {
    hasBacklog: () => shared.spool.hasBacklog(),
    backlogBytes: () => shared.spool.backlogBytes(),
    append: (event) => shared.spool.append(event),
    // One replay at a time per file, whoever asks.
    replay: (deliver) =>
      (shared.replaying ??= shared.spool.replay(deliver).finally(() => {
        shared.replaying = undefined;
      })),
    async close() {
      if (closed) return;
      closed = true;
      shared.users -= 1;
      if (shared.users === 0) await shared.spool.close();
    },
  };
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Two processes replaying and emptying one spool would lose lines; a live owner's lock is refused. */
async function takeLock(lockFile: string) {
  try {
    await writeFile(lockFile, String(process.pid), { flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
  if (owner && owner !== process.pid && isAlive(owner)) {
    throw new Error(`audit spool ${lockFile} is held by running process ${owner}; give each process its own AUDIT_SPOOL_DIR`);
  }
  await writeFile(lockFile, String(process.pid));
}

async function createSpool(dir: string, name: string, logger: Logger, forget: () => void): Promise<AuditSpool> {
  const dataFile = path.join(dir, `${name}.ndjson`);
  const offsetFile = path.join(dir, `${name}.offset`);
  const lockFile = path.join(dir, `${name}.lock`);
  const rejectedFile = path.join(dir, `${name}.rejected.ndjson`);

  let handle: FileHandle | undefined;
  /** Bytes of complete, fsynced lines. */
  let size = 0;
  /** Bytes already queued. */
  let offset = 0;
  let pending: { line: string; resolve(): void; reject(err: Error): void }[] = [];
  let flushing: Promise<void> | undefined;
  // File mutations (appends, emptying) run one at a time.
  let mutations: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = mutations.then(fn, fn);
    mutations = run.catch(() => undefined);
    return run;
  };

  async function persistOffset(value: number) {
    const temporary = `${offsetFile}.tmp`;
    const out = await open(temporary, 'w');
    try {
      await out.writeFile(String(value));
      await out.datasync();
    } finally {
      await out.close();
    }
    await rename(temporary, offsetFile);
  }

  /** Opens the file (creating it), takes the lock, and drops a torn last line a crash left behind. */
  async function ensureOpen(): Promise<FileHandle> {
    if (handle) return handle;
    await mkdir(dir, { recursive: true });
    await takeLock(lockFile);
    const existed = await stat(dataFile).then(
      () => true,
      () => false,
    );
    const opened = await open(dataFile, 'a+');
    try {
      const bytes = (await opened.stat()).size;
      let complete = bytes;
      if (bytes > 0) {
        const tail = Buffer.alloc(Math.min(bytes, READ_CHUNK_BYTES));
        await opened.read(tail, 0, tail.length, bytes - tail.length);
        // A line without its newline was never acknowledged: its publish did not resolve.
        complete = bytes - tail.length + tail.lastIndexOf(0x0a) + 1;
        if (complete !== bytes) {
          logger.warn({ file: dataFile, droppedBytes: bytes - complete }, 'audit spool: dropped a torn last line');
          await opened.truncate(complete);
          await opened.datasync();
        }
      }
      const saved = Number((await readFile(offsetFile, 'utf8').catch(() => '0')).trim());
      size = complete;
      offset = Number.isInteger(saved) && saved >= 0 && saved <= complete ? saved : 0;
      if (!existed) await fsyncDirectory(dir);
    } catch (err) {
      await opened.close();
      throw err;
    }
    handle = opened;
    return opened;
  }

  async function flush() {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        await exclusive(async () => {
          const file = await ensureOpen();
          const bytes = Buffer.from(batch.map((p) => p.line).join(''));
          if (size + bytes.length > MAX_SPOOL_BYTES) throw new Error(`audit spool ${dataFile} is full (${MAX_SPOOL_BYTES} bytes)`);
          try {
            await file.write(bytes, 0, bytes.length, null);
            await file.datasync();
          } catch (err) {
            // A partial write would glue the next line onto a fragment: cut back to the last good line.
            await file.truncate(size).catch(() => undefined);
            throw err;
          }
          size += bytes.length;
        });
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err as Error);
      }
    }
    flushing = undefined;
  }

  async function readLines(from: number): Promise<{ lines: string[]; lengths: number[] }> {
    const file = await ensureOpen();
    const length = Math.min(READ_CHUNK_BYTES, size - from);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await file.read(buffer, 0, length, from);
    const text = buffer.subarray(0, buffer.subarray(0, bytesRead).lastIndexOf(0x0a) + 1);
    const lines: string[] = [];
    const lengths: number[] = [];
    let start = 0;
    for (let end = text.indexOf(0x0a); end !== -1; end = text.indexOf(0x0a, start)) {
      lines.push(text.subarray(start, end).toString('utf8'));
      lengths.push(end + 1 - start);
      start = end + 1;
    }
    if (lines.length === 0 && length > 0) throw new Error(`audit spool ${dataFile}: a line longer than ${READ_CHUNK_BYTES} bytes`);
    return { lines, lengths };
  }

  function parseLine(line: string): AuditEvent | undefined {
    try {
      const parsed = auditEventSchema.safeParse(JSON.parse(line));
      if (parsed.success) return parsed.data;
    } catch {
      // Falls through to the rejected file.
    }
    return undefined;
  }

  async function replayTo(deliver: (events: AuditEvent[]) => Promise<void>) {
    while (offset < size) {
      const { lines, lengths } = await readLines(offset);
      for (let i = 0; i < lines.length; i += REPLAY_CHUNK_EVENTS) {
        const bytes = lengths.slice(i, i + REPLAY_CHUNK_EVENTS).reduce((a, b) => a + b, 0);
        const events: AuditEvent[] = [];
        for (const line of lines.slice(i, i + REPLAY_CHUNK_EVENTS)) {
          const event = parseLine(line);
          if (event) events.push(event);
          else {
            logger.error({ file: rejectedFile }, 'audit spool: a line is not a valid audit event; moved to the rejected file');
            await writeFile(rejectedFile, `${line}\n`, { flag: 'a' });
          }
        }
        if (events.length > 0) await deliver(events);
        offset += bytes;
        await persistOffset(offset);
      }
    }
  }

  /**
   * Empties the file once every line is queued and nothing new is on its way. The offset goes to 0
   * first, so a crash in between replays old lines again rather than skipping new ones.
   */
  function emptyIfDrained(): Promise<boolean> {
    return exclusive(async () => {
      if (offset < size || pending.length > 0) return false;
      if (size === 0) return true;
      await persistOffset(0);
      offset = 0;
      await handle!.truncate(0);
      await handle!.datasync();
      size = 0;
      return true;
    });
  }

  // An existing spool is picked up at start, so a restart replays what the last run could not queue.
  if (
    await stat(dataFile).then(
      (s) => s.size > 0,
      () => false,
    )
  )
    await ensureOpen();

  return {
    hasBacklog: () => pending.length > 0 || flushing !== undefined || offset < size,
    backlogBytes: () => size - offset,

    append(event) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ line: `${JSON.stringify(event)}\n`, resolve, reject });
        flushing ??= flush();
      });
    },

    async replay(deliver) {
      for (;;) {
        await replayTo(deliver);
        if (await emptyIfDrained()) return true;
      }
    },

    async close() {
      await flushing;
      await mutations;
      forget();
      if (!handle) return;
      await handle.close();
      handle = undefined;
      await unlink(lockFile).catch(() => undefined);
    },
  };
}
