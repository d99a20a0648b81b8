import assert from 'node:assert/strict';
import { attachmentDisposition } from './content-disposition.ts';

describe('Content-Disposition of downloads', () => {
  it('when the name is plain ASCII, then both forms carry it unchanged', () => {
    assert.equal(attachmentDisposition('report-2024.pdf'), `attachment; filename="report-2024.pdf"; filename*=UTF-8''report-2024.pdf`);
  });

  it('when the name is unicode, then the fallback is ASCII and filename* decodes to the exact name', () => {
    const header = attachmentDisposition('Отчёт 📦.txt');
    assert.match(header, /^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%!#$&+.^_`|~-]+$/);
    assert.equal(decodeURIComponent(header.split("UTF-8''")[1]!), 'Отчёт 📦.txt');
  });

  it('when the name holds quotes, backslashes, semicolons or percent signs, then none can end the quoted fallback or add a parameter', () => {
    const header = attachmentDisposition('a"b\\c;d%e\'(f).txt');
    assert.equal(header, `attachment; filename="a_b_c;d_e'(f).txt"; filename*=UTF-8''a%22b%5Cc%3Bd%25e%27%28f%29.txt`);
  });
});
