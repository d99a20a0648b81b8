/**
 * The chain writer in a worker thread: the main thread's event loop is busy with BullMQ (a batch's
 * completions arrive in bursts of hundreds), and every turn a transaction waits behind that
 * burst would lengthen the time the chain lock is held. Here signing and the database transaction
 * run on their own loop (and core). Messages: `{ id, events }` in, `{ id, outcomes }` or
 * `{ id, error }` out.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createAuditKeyRing } from '../../services/audit-log/audit-signature.ts';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { createPrismaClient } from '../../services/platform/db/client.ts';
import { Secret } from '../../services/platform/secret.ts';
import { createChainWriter } from '../../services/audit-log/chain-writer.ts';
import { DEFAULT_BATCHER_OPTIONS } from './batcher.ts';

export interface WriterThreadData {
  databaseUrl: string;
  keys: { id: string; key: string }[];
  /** AUDIT_CHAINS. */
  chains: number;
  chainId?: number;
  merkleTrees?: boolean;
}

const data = workerData as WriterThreadData;
// A connection for every chain's transaction of every batch in flight, so no part waits for another's.
const prisma = createPrismaClient(data.databaseUrl, { maxConnections: Math.max(10, DEFAULT_BATCHER_OPTIONS.maxInFlight * data.chains + 2) });
const writer = createChainWriter(prisma, createAuditKeyRing(data.keys.map((k) => ({ id: k.id, key: new Secret(k.key) }))), {
  chains: data.chains,
  chainId: data.chainId,
  merkleTrees: data.merkleTrees,
});

parentPort!.on('message', (message: { id: number; events: AuditEvent[] } | 'close') => {
  if (message === 'close') {
    void prisma.$disconnect().finally(() => parentPort!.close());
    return;
  }
  writer.write(message.events).then(
    (result) => parentPort!.postMessage({ id: message.id, outcomes: result.outcomes }),
    (err: Error) => parentPort!.postMessage({ id: message.id, error: err.message }),
  );
});
