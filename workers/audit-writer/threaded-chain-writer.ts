import { Worker } from 'node:worker_threads';
import type { AuditEvent } from '../../services/platform/audit/events.ts';
import type { Config } from '../../services/platform/config.ts';
import type { WriteOutcome } from './chain-writer.ts';
import type { WriterThreadData } from './writer-thread.ts';

/** Time the thread gets to disconnect from the database before it is terminated. */
const CLOSE_GRACE_MS = 5000;

export interface ThreadedChainWriter {
  write(events: AuditEvent[]): Promise<{ outcomes: WriteOutcome[] }>;
  close(): Promise<void>;
}

/** A chain writer running in its own thread (writer-thread.ts), with the same results. */
export function startThreadedChainWriter(config: Config): ThreadedChainWriter {
  const data: WriterThreadData = { databaseUrl: config.databaseUrl.reveal(), keys: config.auditKeys.map((k) => ({ id: k.id, key: k.key.reveal() })) };
  const thread = new Worker(new URL('./writer-thread-boot.mjs', import.meta.url), { workerData: data });
  const pending = new Map<number, { resolve(outcomes: WriteOutcome[]): void; reject(err: Error): void }>();
  let nextId = 0;
  let exited: Error | undefined;
  thread.on('message', (message: { id: number; outcomes?: WriteOutcome[]; error?: string }) => {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message.outcomes!);
  });
  const failAll = (err: Error) => {
    exited = err;
    for (const waiter of pending.values()) waiter.reject(err);
    pending.clear();
  };
  thread.on('error', failAll);
  thread.on('exit', (code) => failAll(new Error(`audit writer thread exited (${code})`)));
  return {
    write(events) {
      if (exited) return Promise.reject(exited);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: (outcomes) => resolve({ outcomes }), reject });
        thread.postMessage({ id, events });
      });
    },
    async close() {
      if (exited) return;
      const gone = new Promise((resolve) => thread.once('exit', resolve));
      thread.postMessage('close');
      const force = setTimeout(() => void thread.terminate(), CLOSE_GRACE_MS);
      await gone;
      clearTimeout(force);
    },
  };
}
