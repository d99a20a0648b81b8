/**
 * Which chain an audit event is appended to when AUDIT_CHAINS spreads the log over several
 * (docs/AUDIT_LOGGING.md, "Several chains"). The key is the event_id, the key the writer
 * deduplicates on: every delivery of an event goes to the same chain as long as the number of
 * chains is the same, so its first copy is under the lock the second delivery takes. A source or
 * resource key would keep one resource's events in one order, but a busy source would load one
 * chain while the others idle.
 */
import { createHash } from 'node:crypto';

/**
 * The chain of an event among `chains` chains (0 … chains − 1): the first four bytes of
 * SHA-256(the 16 bytes of the UUID), big-endian, modulo `chains`. Hashed rather than taken from the
 * UUID itself because a v7 UUID begins with its timestamp and every UUID carries fixed version bits.
 */
export function chainOfEvent(eventId: string, chains: number): number {
  if (chains === 1) return 0;
  const bytes = Buffer.from(eventId.replaceAll('-', ''), 'hex');
  return createHash('sha256').update(bytes).digest().readUInt32BE(0) % chains;
}

/** The chain ids a writer with `chains` chains appends to. */
export const chainIdsUpTo = (chains: number): number[] => Array.from({ length: chains }, (_, i) => i);
