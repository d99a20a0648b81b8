import assert from 'node:assert/strict';
import { CertificateRequestError, retryAdminRequestIn } from './certificate-source.ts';

/** An error as undici's fetch gives it: "fetch failed" with the reason in its cause. */
const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });
const withCode = (code: string) => Object.assign(new Error(code), { code });

describe('which failures to reach admin a starting module waits out', () => {
  const cases: [what: string, err: unknown, retryIn: number | undefined][] = [
    ['admin not listening yet', fetchFailed(withCode('ECONNREFUSED')), 0],
    ['its name not resolving yet', fetchFailed(withCode('ENOTFOUND')), 0],
    [
      'a dual-stack connect whose first try timed out and whose second had no address',
      fetchFailed(new AggregateError([withCode('ETIMEDOUT'), withCode('EADDRNOTAVAIL')])),
      0,
    ],
    [
      'a dual-stack connect refused on both',
      fetchFailed(Object.assign(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]), { code: 'ECONNREFUSED' })),
      0,
    ],
    ['a request that timed out', new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 0],
    ['503: admin cannot record the issuance', new CertificateRequestError('token request', 503, '{}'), 0],
    ['429 with Retry-After: a lock on failed attempts', new CertificateRequestError('token request', 429, '{}', '7'), 7000],
    ['401: a wrong secret', new CertificateRequestError('token request', 401, '{}'), undefined],
    ['403: an identity the role may not have', new CertificateRequestError('certificate request', 403, '{}'), undefined],
    ['a server the bundle does not verify', fetchFailed(withCode('DEPTH_ZERO_SELF_SIGNED_CERT')), undefined],
    ['an answer admin never gives', new SyntaxError('Unexpected token < in JSON'), undefined],
  ];
  for (const [what, err, retryIn] of cases) {
    it(`when the failure is ${what}, then it is ${retryIn === undefined ? 'for good' : `tried again${retryIn ? ` after ${retryIn} ms at the least` : ''}`}`, () => {
      assert.equal(retryAdminRequestIn(err), retryIn);
    });
  }
});
