import type { OutgoingHttpHeaders } from 'node:http';
import type { EndpointSpec } from './catalog.ts';

export interface HostileRequest {
  kind: string;
  endpoint: EndpointSpec;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body?: string | Buffer;
  /** The only statuses a correct server may answer. */
  expected: readonly number[];
}

export interface AttackTokens {
  admin: string;
  reader: string;
  forged: string[];
}

/** A small seeded PRNG (mulberry32): the same seed generates the same requests. */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]! };
}
type Random = ReturnType<typeof seededRandom>;

const MALFORMED_JSON = ['{', '{"a":', '{"a":1,}', "{'a':1}", '[1,2', '{"a":"\\x"}', 'nul', '{"a":1}}', '\u0000{}', '{"a":"\ud800"', 'NaN', '{"__proto__":'];
/** Values no field of a valid body may take: other types, oversized strings, NUL and control characters. */
// biome-ignore lint/correctness/noPrecisionLoss: 1e309 overflows to Infinity on purpose
const WRONG_VALUES: unknown[] = [42, -1, 1e309, true, null, [], [1, 2], {}, { $gt: '' }, 'x'.repeat(5000), '\u0000', 'a\u0000b', 'line\nbreak\u001b[31m'];
const HOSTILE_PARAMS = [
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%5c..%5cwindows',
  'a%00b',
  '%00',
  '%ZZ',
  'x'.repeat(3000),
  '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
  "'%20OR%201%3D1%20--",
  '00000000-0000-0000-0000-000000000000',
  '%E2%80%AE%F0%9F%92%A9',
  '%C0%AE%C0%AE%2F',
];
const HOSTILE_QUERIES = ['limit=-1', 'limit=abc', 'limit=100000', 'cursor=%00', `cursor=${'A'.repeat(5000)}`, 'limit[]=1&limit[]=2', 'cursor[$ne]=x'];

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const json = { 'Content-Type': 'application/json' };

function nested(depth: number, random: Random): string {
  return random.next() < 0.5 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** The attack kinds that apply to an endpoint, each a request maker. */
export function attacksFor(endpoint: EndpointSpec, tokens: AttackTokens): Record<string, (random: Random) => HostileRequest> {
  const make = (kind: string, parts: Partial<HostileRequest> & { expected: readonly number[] }): HostileRequest => ({
    kind,
    endpoint,
    method: endpoint.method,
    path: endpoint.path.replace(/:(\w+)/g, '00000000-0000-4000-8000-000000000000'),
    headers: {},
    ...parts,
  });
  const caller = endpoint.role === null ? {} : bearer(tokens.admin);
  const attacks: Record<string, (random: Random) => HostileRequest> = {};

  if (endpoint.role !== null) {
    attacks['no token'] = () => make('no token', { expected: [401] });
    attacks['forged token'] = (random) => make('forged token', { headers: bearer(random.pick(tokens.forged)), expected: [401] });
    attacks['garbage authorization'] = (random) =>
      make('garbage authorization', {
        headers: { Authorization: random.pick(['Bearer', 'Bearer a.b', 'Basic Og==', `Bearer ${'x'.repeat(4000)}`, 'Bearer %%%']) },
        expected: [401],
      });
    if (endpoint.role === 'admin') attacks['wrong role'] = () => make('wrong role', { headers: bearer(tokens.reader), expected: [403] });
  }
  attacks['cors preflight from an unknown origin'] = (random) =>
    make('cors preflight from an unknown origin', {
      method: 'OPTIONS',
      headers: {
        Origin: random.pick(['https://evil.example.com', 'null', 'http://localhost:4200.evil.com', 'file://']),
        'Access-Control-Request-Method': endpoint.method,
      },
      expected: [403],
    });
  attacks['huge header'] = () => make('huge header', { headers: { ...caller, 'X-Padding': 'h'.repeat(20_000) }, expected: [431] });
  if (endpoint.tokenAttacksOnly) return attacks;

  // A made-up id may be refused as unknown before its body is looked at.
  const refused = endpoint.params?.length ? [400, 404] : [400];
  if (endpoint.body === 'json') {
    const rejected = endpoint.oauthErrors ? [400, 401] : refused;
    attacks['malformed json'] = (random) => make('malformed json', { headers: { ...caller, ...json }, body: random.pick(MALFORMED_JSON), expected: refused });
    attacks['deeply nested json'] = (random) =>
      make('deeply nested json', {
        headers: { ...caller, ...json },
        body: nested(1000 + Math.floor(random.next() * 50_000), random),
        expected: [...refused, 413],
      });
    attacks['wrong types'] = (random) => {
      const body = endpoint.validBody!();
      body[random.pick(Object.keys(body))] = random.pick(WRONG_VALUES);
      return make('wrong types', { headers: { ...caller, ...json }, body: JSON.stringify(body), expected: rejected });
    };
    attacks['unknown or polluting fields'] = (random) => {
      const body = JSON.stringify(endpoint.validBody!()).replace(
        /^\{/,
        random.pick(['{"__proto__":{"admin":true},', '{"constructor":{"prototype":{"x":1}},', '{"role":"admin","status":"active",']),
      );
      return make('unknown or polluting fields', { headers: { ...caller, ...json }, body, expected: rejected });
    };
    attacks['huge body'] = () =>
      make('huge body', {
        headers: { ...caller, ...json },
        body: JSON.stringify({ ...endpoint.validBody!(), padding: 'b'.repeat(2 * 1024 * 1024) }),
        expected: [413],
      });
    attacks['wrong content type'] = (random) =>
      make('wrong content type', {
        headers: { ...caller, 'Content-Type': random.pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) },
        body: JSON.stringify(endpoint.validBody!()),
        expected: [...refused, 415],
      });
  }
  if (endpoint.body === 'multipart') {
    attacks['broken multipart'] = (random) => {
      const boundary = 'hostile-boundary';
      const body = random.pick([
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nno closing boundary`,
        `--${boundary}\r\nContent-Disposition: form-data; name="other"\r\n\r\nno file part\r\n--${boundary}--\r\n`,
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a\u0000b.txt"\r\n\r\nnul in name\r\n--${boundary}--\r\n`,
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=".."\r\n\r\ndot dot\r\n--${boundary}--\r\n`,
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="evil\r\nX-Injected: 1.txt"\r\n\r\ncrlf\r\n--${boundary}--\r\n`,
        'not multipart at all',
      ]);
      const contentType = random.pick([`multipart/form-data; boundary=${boundary}`, 'multipart/form-data', 'application/json']);
      return make('broken multipart', { headers: { ...caller, 'Content-Type': contentType }, body, expected: [400, 415] });
    };
  }
  if (endpoint.params?.length) {
    attacks['hostile path parameter'] = (random) =>
      make('hostile path parameter', { path: endpoint.path.replace(/:(\w+)/g, () => random.pick(HOSTILE_PARAMS)), headers: caller, expected: [400, 404, 414] });
  }
  if (endpoint.query || (endpoint.method === 'GET' && !endpoint.params?.length && endpoint.path.includes('service-accounts'))) {
    attacks['hostile query'] = (random) =>
      make('hostile query', { path: `${endpoint.path}?${random.pick(HOSTILE_QUERIES)}`, headers: caller, expected: [400] });
  }
  return attacks;
}
