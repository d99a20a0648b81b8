import { Worker } from 'node:worker_threads';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import type { Config } from '../../services/platform/config/index.ts';
import type { WriteOutcome } from '../../services/audit-log/chain-writer.ts';
import type { WriterThreadData } from './writer-thread.ts';

/** Time the thread gets to disconnect from the database before it is terminated. */
const CLOSE_GRACE_MS = 5000;

export interface ThreadedChainWriter {
  write(events: AuditEvent[]): Promise<{ outcomes: WriteOutcome[] }>;
  close(): Promise<void>;
}

interface Waiter {
  resolve(result: { outcomes: WriteOutcome[] }): void;
  reject(err: Error): void;
}

/**
 * Compiled (dist/, `npm run build`) the thread loads its JavaScript directly; run as TypeScript it
 * goes through a boot file that registers tsx in the thread first.
 */
const threadEntry = import.meta.url.endsWith('.js') ? new URL('./writer-thread.js', import.meta.url) : new URL('./writer-thread-boot.mjs', import.meta.url);

/**
 * A chain writer running in its own thread (writer-thread.ts), with the same results. A thread
 * that dies fails the batches it held (their jobs retry) and is replaced at the next batch.
 */
export function startThreadedChainWriter(config: Config, chain: { chainId?: number; merkleTrees?: boolean } = {}): ThreadedChainWriter {
  const data: WriterThreadData = {
    databaseUrl: config.databaseUrl.reveal(),
    keys: config.auditKeys.map((k) => ({ id: k.id, key: k.key.reveal() })),
    chains: config.audit.chains,
    ...chain,
  };
  const pending = new Map<number, Waiter>();
  let nextId = 0;
  let thread: Worker | undefined;
  let closing = false;

  const spawn = () => {
    const started = new Worker(threadEntry, { workerData: data });
    started.on('message', (message: { id: number; outcomes?: WriteOutcome[]; error?: string }) => {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(message.error));
      else waiter?.resolve({ outcomes: message.outcomes! });
    });
    const lost = (err: Error) => {
      if (thread === started) thread = undefined;
      for (const waiter of pending.values()) waiter.reject(err);
      pending.clear();
    };
    started.on('error', lost);
    started.on('exit', (code) => lost(new Error(`audit writer thread exited (${code})`)));
    return started;
  };
  thread = spawn();

  return {
    write(events) {
      if (closing) return Promise.reject(new Error('audit writer thread is closing'));
      thread ??= spawn();
      const target = thread;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        target.postMessage({ id, events });
      });
    },
    async close() {
      closing = true;
      const current = thread;
      if (!current) return;
      const gone = new Promise((resolve) => current.once('exit', resolve));
      current.postMessage('close');
      const force = setTimeout(() => void current.terminate(), CLOSE_GRACE_MS);
      await gone;
      clearTimeout(force);
    },
  };
}
