/**
 * Walks the records of one chain in sequence order and names each broken point: a record whose
 * signature fails (modified), a missing sequence (deleted), an extra record (inserted), a record
 * intact but at another position than it was signed for (reordered). Truncation is judged by the
 * caller against the chain head and checkpoints.
 */
import type { AuditKeyRing, AuditRecord } from './audit-signature.ts';

export type ChainBreakKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'truncated';

export interface ChainBreak {
  kind: ChainBreakKind;
  chain_id: number;
  /** Where the chain breaks: the first missing sequence, or the sequence of the bad record. */
  sequence: number;
  event_id: string | null;
  message: string;
}

/** How far a reordered record is searched for around its position. */
const REORDER_SEARCH = 16;

export interface ChainWalkStart {
  chainId: number;
  /** The first sequence expected. */
  sequence: number;
  /** The signature the first record must chain to; undefined when unknown (no check). */
  prevSignature: string | null | undefined;
  /** Sequence of the chain head: invalid records past it were added, not changed. */
  headSequence: number;
  /** Signatures some records must have (checkpoints), by sequence. */
  expected?: Map<number, string>;
}

export interface ChainWalk {
  /** Feeds records in (sequence, event_id) order; `lookahead` are the records that follow, if known. */
  feed(records: AuditRecord[], lookahead: AuditRecord[]): void;
  readonly checked: number;
  /** Sequence of the last record fed, or undefined before any. */
  readonly lastSequence: number | undefined;
  readonly lastSignature: string | undefined;
}

export function createChainWalk(keyRing: AuditKeyRing, start: ChainWalkStart, onBreak: (b: ChainBreak) => void): ChainWalk {
  let expectedSeq = start.sequence;
  let expectedPrev = start.prevSignature;
  let checked = 0;
  let lastSequence: number | undefined;
  let lastSignature: string | undefined;
  const report = (kind: ChainBreakKind, sequence: number, record: AuditRecord | null, message: string) =>
    onBreak({ kind, chain_id: start.chainId, sequence, event_id: record?.event_id ?? null, message });
  const validAt = (record: AuditRecord, sequence: number) => sequence >= 1 && keyRing.check({ ...record, sequence }) === 'valid';

  /** The sequence an intact record was signed for, when it is near `sequence` or after its predecessor. */
  function signedSequence(record: AuditRecord, bySignature: Map<string, number>): number | undefined {
    const afterPredecessor = record.prev_signature ? bySignature.get(record.prev_signature) : undefined;
    const candidates = afterPredecessor !== undefined ? [afterPredecessor + 1] : [];
    for (let d = 1; d <= REORDER_SEARCH; d++) candidates.push(record.sequence - d, record.sequence + d);
    return candidates.find((s) => s !== record.sequence && validAt(record, s));
  }

  function judge(record: AuditRecord, next: AuditRecord | undefined, bySignature: Map<string, number>): boolean {
    const s = record.sequence;
    const check = keyRing.check(record);
    if (check === 'unknown_key') {
      report('modified', s, record, `record ${s} names key "${record.key_id}", which is not in the key ring`);
      return false;
    }
    if (check === 'invalid') {
      const signedFor = signedSequence(record, bySignature);
      if (signedFor !== undefined) report('reordered', s, record, `record ${s} is intact but was signed as record ${signedFor}`);
      else if (next && next.sequence === s + 1 && validAt(next, s))
        report('inserted', s, record, `record ${s} is not signed; the records after it were moved up by one`);
      else if (s > start.headSequence) report('inserted', s, record, `record ${s} lies past the chain head (${start.headSequence}) and is not signed`);
      else report('modified', s, record, `record ${s} does not match its signature`);
      return false;
    }
    if (expectedPrev !== undefined && record.prev_signature !== expectedPrev) {
      report('modified', s - 1, record, `record ${s} was chained to another record ${s - 1} than the one stored`);
      return false;
    }
    const pinned = start.expected?.get(s);
    if (pinned !== undefined && pinned !== record.signature) {
      report('modified', s, record, `record ${s} differs from the checkpoint taken of it`);
      return false;
    }
    return true;
  }

  return {
    feed(records, lookahead) {
      const all = [...records, ...lookahead];
      const bySignature = new Map(all.map((r) => [r.signature, r.sequence]));
      let i = 0;
      while (i < records.length) {
        const s = records[i]!.sequence;
        let j = i;
        while (j < records.length && records[j]!.sequence === s) j++;
        const group = records.slice(i, j);
        const next = all[j];
        if (s > expectedSeq) {
          report('deleted', expectedSeq, null, s - expectedSeq === 1 ? `record ${expectedSeq} is missing` : `records ${expectedSeq} to ${s - 1} are missing`);
          expectedPrev = undefined;
        }
        // Of several records claiming one sequence, the one that verifies and chains is the original.
        const main =
          group.find((r) => keyRing.check(r) === 'valid' && (expectedPrev === undefined || r.prev_signature === expectedPrev)) ??
          group.find((r) => keyRing.check(r) === 'valid') ??
          group[0]!;
        for (const extra of group) {
          if (extra !== main) report('inserted', s, extra, `a second record claims sequence ${s}`);
        }
        const intact = judge(main, next, bySignature) && group.length === 1;
        expectedSeq = s + 1;
        expectedPrev = intact ? main.signature : undefined;
        checked += group.length;
        lastSequence = s;
        lastSignature = main.signature;
        i = j;
      }
    },
    get checked() {
      return checked;
    },
    get lastSequence() {
      return lastSequence;
    },
    get lastSignature() {
      return lastSignature;
    },
  };
}
