import assert from 'node:assert/strict';
import { progressLine } from './progress-line.ts';

/** The terminal's erase-to-end-of-line sequence. */
const CLEAR_TO_END = '\x1b[K';

/** What a terminal (or a log file) was sent; the clock is the test's, the only thing faked here. */
function captured(isTTY: boolean, columns?: number) {
  const written: string[] = [];
  const stream = { isTTY, columns, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe('audit:verify progress on stderr', () => {
  const realNow = Date.now;
  let now = 0;
  beforeEach(() => {
    now = 1_000_000;
    Date.now = () => now;
  });
  afterEach(() => {
    Date.now = realNow;
  });

  it('when stderr is a terminal, then one line is rewritten in place with the records checked, the rate and the share of the chain, and cleared at the end', () => {
    const { stream, written } = captured(true, 120);
    const progress = progressLine('audit:verify', stream);
    progress.update({ chain_id: 0, checked: 10, sequence: 10, last_sequence: 2_000_000 });
    assert.deepEqual(written, [], 'nothing within the first quarter second');
    now += 2000;
    progress.update({ chain_id: 0, checked: 1_000_000, sequence: 1_000_000, last_sequence: 2_000_000 });
    assert.deepEqual(written, ['\raudit:verify: 1,000,000 records checked, 500,000 records/s · chain 0 50% (1,000,000 of 2,000,000)\x1b[K']);
    now += 100;
    progress.update({ chain_id: 0, checked: 1_050_000, sequence: 1_050_000, last_sequence: 2_000_000 });
    assert.equal(written.length, 1, 'not redrawn more than four times a second');
    progress.done();
    assert.equal(written.at(-1), '\r\x1b[K');
  });

  it('when the terminal is narrow, then the line is cut to its width so it can still be rewritten', () => {
    const { stream, written } = captured(true, 40);
    const progress = progressLine('audit:verify', stream);
    now += 1000;
    progress.update({ chain_id: 3, checked: 123_456, sequence: 123_456, last_sequence: 999_999 });
    const line = written[0]!.slice('\r'.length, -CLEAR_TO_END.length);
    assert.ok(written[0]!.startsWith('\r') && written[0]!.endsWith(CLEAR_TO_END));
    assert.equal(line.length, 39);
    assert.ok(line.startsWith('audit:verify: 123,456 records checked'));
  });

  it('when verifying several chains, then the count is of all of them together', () => {
    const { stream, written } = captured(true, 200);
    const progress = progressLine('audit:verify', stream);
    now += 500;
    progress.update({ chain_id: 0, checked: 300 });
    now += 500;
    progress.update({ chain_id: 1, checked: 200 });
    assert.ok(written.at(-1)!.endsWith(`: 500 records checked, 500 records/s · chain 1${CLEAR_TO_END}`), written.at(-1));
  });

  it('when stderr is a file or a pipe, then a plain line comes every 10 s and nothing is ever rewritten', () => {
    const { stream, written } = captured(false);
    const progress = progressLine('audit:verify', stream);
    now += 5000;
    progress.update({ chain_id: 0, checked: 50_000 });
    assert.deepEqual(written, []);
    now += 5000;
    progress.update({ chain_id: 0, checked: 100_000 });
    assert.deepEqual(written, ['audit:verify: 100,000 records checked, 10,000 records/s · chain 0\n']);
    progress.done();
    assert.equal(written.length, 1, 'no terminal control bytes in a log');
  });
});
