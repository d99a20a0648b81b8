/**
 * Walks the records of one chain in sequence order and names each broken point: a record whose
 * signature fails (modified), a missing sequence (deleted), an extra record (inserted), a record
 * intact but at another position than it was signed for (reordered). Truncation is judged by the
 * caller against the chain head and checkpoints.
 *
 * Counting: one break per broken point, not per record it displaces. Records deleted and the rest
 * renumbered to close the gap are one `deleted` break; a record inserted and the rest renumbered
 * to make room is one `inserted` break: from there on the walk expects each record at its
 * position plus the shift (`shift`), and only a change of shift is a new break.
 */
import type { AuditKeyRing, AuditRecord } from './audit-signature.ts';

export type ChainBreakKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'truncated' | 'head_missing';

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
  /** How far stored positions are from signed ones after a renumbering (signed = stored + shift). */
  readonly shift: number;
}

export function createChainWalk(keyRing: AuditKeyRing, start: ChainWalkStart, onBreak: (b: ChainBreak) => void): ChainWalk {
  let expectedSeq = start.sequence;
  let expectedPrev = start.prevSignature;
  let checked = 0;
  let lastSequence: number | undefined;
  let lastSignature: string | undefined;
  let shift = 0;
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

  /** 'intact', 'broken', or 'renumbered' (intact at its shifted position; its link to a missing record is the break already reported). */
  function judge(record: AuditRecord, next: AuditRecord | undefined, bySignature: Map<string, number>): 'intact' | 'broken' | 'renumbered' {
    const s = record.sequence;
    const check = keyRing.check(shift === 0 ? record : { ...record, sequence: s + shift });
    if (check === 'unknown_key') {
      report('modified', s, record, `record ${s} names key "${record.key_id}", which is not in the key ring`);
      return 'broken';
    }
    if (check === 'invalid') {
      const signedFor = signedSequence(record, bySignature);
      const k = signedFor === undefined ? undefined : signedFor - s;
      // The shift goes on past this record: a renumbering, not two records trading places.
      if (k !== undefined && (!next || validAt(next, next.sequence + k))) {
        const moved = k - shift;
        report(
          moved > 0 ? 'deleted' : 'inserted',
          s,
          record,
          moved > 0
            ? `${moved === 1 ? `the record signed as ${s + shift} is` : `${moved} records from ${s + shift} are`} missing and the records after were renumbered to close the gap`
            : `${-moved} record(s) were inserted before ${s} and the records after were renumbered to make room`,
        );
        shift = k;
        return 'renumbered';
      }
      if (k !== undefined) report('reordered', s, record, `record ${s} is intact but was signed as record ${signedFor}`);
      else if (next && next.sequence === s + 1 && validAt(next, s + shift)) {
        report('inserted', s, record, `record ${s} is not signed; the records after it were moved up by one`);
        shift -= 1;
      } else if (s + shift > start.headSequence)
        report('inserted', s, record, `record ${s} lies past the chain head (${start.headSequence}) and is not signed`);
      else report('modified', s, record, `record ${s} does not match its signature`);
      return 'broken';
    }
    if (expectedPrev !== undefined && record.prev_signature !== expectedPrev) {
      report('modified', s - 1, record, `record ${s} was chained to another record ${s - 1} than the one stored`);
      return 'broken';
    }
    const pinned = start.expected?.get(s + shift);
    if (pinned !== undefined && pinned !== record.signature) {
      report('modified', s, record, `record ${s} differs from the checkpoint taken of it`);
      return 'broken';
    }
    return 'intact';
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
        const verdict = judge(main, next, bySignature);
        expectedSeq = s + 1;
        expectedPrev = verdict !== 'broken' && group.length === 1 ? main.signature : undefined;
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
    get shift() {
      return shift;
    },
  };
}
