import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { docBlock } from '../../test/support/doc-blocks.ts';
import { chainOfEvent } from './chain-assignment.ts';

describe('audit chain assignment', () => {
  it('when the log is one chain, then every event goes to chain 0', () => {
    for (let i = 0; i < 100; i++) assert.equal(chainOfEvent(randomUUID(), 1), 0);
  });

  it('when an event id is assigned again, in either case, then it picks the same chain', () => {
    for (let i = 0; i < 100; i++) {
      const id = randomUUID();
      assert.equal(chainOfEvent(id.toUpperCase(), 3), chainOfEvent(id, 3));
      assert.equal(chainOfEvent(id, 5), chainOfEvent(id, 5));
    }
  });

  it('when 30,000 events are spread over three chains, then each chain gets about a third', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[chainOfEvent(randomUUID(), 3)]!++;
    // A fair split is 10,000 ± 82 (one standard deviation): ± 500 fails only a skewed hash.
    for (const count of counts) assert.ok(Math.abs(count - 10_000) < 500, `chain counts ${counts.join(', ')}`);
  });

  it('when the worked example of docs/AUDIT_LOGGING.md is recomputed, then the code picks the chains written there', () => {
    const example = docBlock('AUDIT_LOGGING.md', 'audit-chains-example');
    const eventId = /^event_id (\S+)$/m.exec(example)![1]!;
    const picks = [...example.matchAll(/^AUDIT_CHAINS=(\d+) +→ chain (\d+)$/gm)].map(([, chains, chain]) => [Number(chains), Number(chain)]);
    assert.ok(picks.length >= 3, 'the example names the chain for several AUDIT_CHAINS');
    for (const [chains, chain] of picks) assert.equal(chainOfEvent(eventId, chains!), chain, `AUDIT_CHAINS=${chains}`);
  });
});
