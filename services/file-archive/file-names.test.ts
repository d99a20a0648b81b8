import assert from 'node:assert/strict';
import { acceptContentType, acceptFileName, foldForSearch } from './file-names.ts';

describe('file names', () => {
  it('when a name has directories in either slash, then only the last component is kept', () => {
    assert.deepEqual(acceptFileName('../../etc/passwd'), { name: 'passwd' });
    assert.deepEqual(acceptFileName('C:\\Users\\x\\report.pdf'), { name: 'report.pdf' });
    assert.deepEqual(acceptFileName('plain.txt'), { name: 'plain.txt' });
  });

  it('when a name is unusable, then the problem is named', () => {
    assert.deepEqual(acceptFileName(undefined), { problem: 'missing' });
    assert.deepEqual(acceptFileName('dir/'), { problem: 'missing' });
    assert.deepEqual(acceptFileName('..'), { problem: 'missing' });
    assert.deepEqual(acceptFileName('a\r\nb'), { problem: 'control_characters' });
    assert.deepEqual(acceptFileName('a\u0000b'), { problem: 'control_characters' });
    assert.deepEqual(acceptFileName('gpj.\u202Eexe'), { problem: 'control_characters' });
    assert.deepEqual(acceptFileName('x'.repeat(256)), { problem: 'too_long' });
    assert.deepEqual(acceptFileName('😀'.repeat(255)), { name: '😀'.repeat(255) }, 'length counts characters, not UTF-16 units');
  });

  it('when names are folded for search, then case, compatibility forms, ß and final sigma compare equal', () => {
    assert.equal(foldForSearch('STRASSE'), foldForSearch('Straße'));
    assert.equal(foldForSearch('ﬁnal'), 'final');
    assert.equal(foldForSearch('ＡＢＣ'), 'abc');
    assert.equal(foldForSearch('ΟΔΟΣ'), foldForSearch('οδοσ'));
    assert.equal(foldForSearch('ОТЧЁТ'), 'отчёт');
  });

  it('when a part declares a content type, then only a well-formed type/subtype survives, in lower case', () => {
    assert.equal(acceptContentType('Image/PNG; charset=x'), 'image/png');
    assert.equal(acceptContentType(undefined), 'application/octet-stream');
    assert.equal(acceptContentType('text/html\r\nX-Evil: 1'), 'application/octet-stream');
    assert.equal(acceptContentType('nonsense'), 'application/octet-stream');
  });
});
