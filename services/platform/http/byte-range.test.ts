import assert from 'node:assert/strict';
import { parseByteRange } from './byte-range.ts';

describe('byte ranges', () => {
  it('when a range is given in the usual forms, then the bytes asked for are the bytes sent', () => {
    assert.deepEqual(parseByteRange('bytes=0-9', 100), { kind: 'partial', range: { start: 0, end: 9 } });
    assert.deepEqual(parseByteRange('bytes=90-', 100), { kind: 'partial', range: { start: 90, end: 99 } });
    assert.deepEqual(parseByteRange('bytes=-10', 100), { kind: 'partial', range: { start: 90, end: 99 } });
    assert.deepEqual(parseByteRange('bytes=50-500', 100), { kind: 'partial', range: { start: 50, end: 99 } });
    assert.deepEqual(parseByteRange('bytes=-500', 100), { kind: 'partial', range: { start: 0, end: 99 } });
  });

  it('when a range starts past the end, then it is unsatisfiable', () => {
    assert.deepEqual(parseByteRange('bytes=100-', 100), { kind: 'unsatisfiable' });
    assert.deepEqual(parseByteRange('bytes=-0', 100), { kind: 'unsatisfiable' });
    assert.deepEqual(parseByteRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  });

  it('when the header is absent, malformed, of another unit or asks for several ranges, then the whole content is sent', () => {
    for (const header of [undefined, 'bytes=', 'bytes=5-1', 'items=0-1', 'bytes=0-1,5-6', 'bytes=a-b', 'bytes=99999999999999999999-']) {
      assert.deepEqual(parseByteRange(header, 100), { kind: 'full' }, String(header));
    }
  });
});
