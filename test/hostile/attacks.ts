import type { OutgoingHttpHeaders } from 'node:http';
import type { EndpointSpec, InertAnswer } from './catalog.ts';

export interface HostileRequest {
  kind: string;
  endpoint: EndpointSpec;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body?: string | Buffer;
  /** The only statuses a correct server may answer. */
  expected: readonly number[];
  /**
   * The answer of an endpoint that takes the input as naming no live token (introspection's
   * `{"active":false}`, revocation's empty 200): expected too, and then with exactly this body.
   */
  inert?: InertAnswer;
  /** Sent as X-Request-Id, so the audit rows of this request can be told apart. */
  requestId?: string;
  /** The loopback address to send from: the brute-force limits count by client address. */
  localAddress?: string;
}

export interface AttackTokens {
  admin: string;
  /** The account the admin token belongs to: an account changing itself is refused. */
  adminAccountId: string;
  reader: string;
  forged: string[];
  /** Credentials of a real client, so revocation attacks get past client authentication to the token they name. */
  client: { clientId: string; clientSecret: string };
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
/**
 * Values no field of a valid body may take: other types, oversized strings, NUL, control characters
 * and unpaired surrogates (JSON.stringify writes those as `\ud800` escapes, which JSON.parse gives back).
 */
const WRONG_VALUES: unknown[] = [
  42,
  -1,
  // biome-ignore lint/correctness/noPrecisionLoss: 1e309 overflows to Infinity on purpose
  1e309,
  true,
  null,
  [],
  [1, 2],
  {},
  { $gt: '' },
  'x'.repeat(5000),
  '\u0000',
  'a\u0000b',
  'line\nbreak\u001b[31m',
  '\ud800',
  'a\udfffb',
  '\udc00\ud800',
];
/** As sent in the path: traversal, NUL, bad percent-encoding, lone surrogates and overlong forms in UTF-8. */
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
  '%ED%A0%80',
  'a%ED%B0%80b',
  '%uD800',
  '%F0%9F',
  '%C0%80',
];
const HOSTILE_QUERIES = ['limit=-1', 'limit=abc', 'limit=100000', 'cursor=%00', `cursor=${'A'.repeat(5000)}`, 'limit[]=1&limit[]=2', 'cursor[$ne]=x'];
/** Form values as sent (percent-encoded): NUL, bad encodings, a lone surrogate's UTF-8, control characters, huge. */
const HOSTILE_FORM_VALUES = ['%00', 'a%00b', '%ED%A0%80', '%ZZ', '%F0%9F', '', 'line%0Abreak%1B%5B31m', 'x'.repeat(5000)];
const basic = (credentials: string) => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
/** HTTP Basic client credentials (RFC 6749 §2.3.1: form-encoded, then base64) that authenticate no client. */
const HOSTILE_BASIC = [
  basic('a%00b:x'),
  basic('%ED%A0%80:x'),
  basic('a\u0000b:x'),
  basic('nocolon'),
  basic(':'),
  basic('hostile-nobody:'),
  basic('hostile-nobody:%00'),
  basic('%ZZ:y'),
  basic(`${'x'.repeat(5000)}:y`),
  'Basic !!!',
  'Basic ',
  'basic Og==',
];
/** Access tokens to revoke or introspect that are not live tokens (with the forged ones). */
const HOSTILE_TOKEN_VALUES = ['\u0000', 'a\u0000b', '\ud800', 'x'.repeat(9000), '', ' ', 'a.b.c', '..', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'Bearer x'];
const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
const formBody = (fields: [string, string][]) => fields.map(([name, value]) => `${name}=${value}`).join('&');

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
    if (endpoint.role !== 'reader') attacks['wrong role'] = () => make('wrong role', { headers: bearer(tokens.reader), expected: [403] });
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
  if (endpoint.notOnOwnAccount) {
    attacks['change own account'] = () =>
      make('change own account', { path: endpoint.path.replace(/:(\w+)/g, tokens.adminAccountId), headers: caller, expected: [403] });
  }
  if (endpoint.tokenAttacksOnly) return attacks;

  // A made-up id may be refused as unknown before its body is looked at.
  const refused = endpoint.params?.length ? [400, 404] : [400];
  // Revocation's valid body names an unknown client (401); introspection's is well-formed and names no live token.
  const inert = endpoint.namesToken && !endpoint.clientAuthentication ? endpoint.namesToken.inert : undefined;
  if (endpoint.body === 'json') {
    const rejected = [...(endpoint.oauthErrors ? [400, 401] : refused), ...(inert ? [inert.status] : [])];
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
      return make('wrong types', { headers: { ...caller, ...json }, body: JSON.stringify(body), expected: rejected, inert });
    };
    attacks['unknown or polluting fields'] = (random) => {
      const body = JSON.stringify(endpoint.validBody!()).replace(
        /^\{/,
        random.pick(['{"__proto__":{"admin":true},', '{"constructor":{"prototype":{"x":1}},', '{"role":"admin","status":"active",']),
      );
      return make('unknown or polluting fields', { headers: { ...caller, ...json }, body, expected: rejected, inert });
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
  if (endpoint.clientAuthentication) {
    const { validForm } = endpoint.clientAuthentication;
    attacks['hostile form'] = (random) => {
      const fields = Object.entries(validForm()).map(([name, value]): [string, string] => [name, encodeURIComponent(value)]);
      const at = Math.floor(random.next() * fields.length);
      const [name, value] = fields[at]!;
      switch (random.pick(['value', 'repeated', 'missing', 'bracketed', 'grant'] as const)) {
        case 'value':
          fields[at] = [name, random.pick(HOSTILE_FORM_VALUES)];
          break;
        case 'repeated':
          fields.push([name, value]);
          break;
        case 'missing':
          fields.splice(at, 1);
          break;
        case 'bracketed':
          fields[at] = [`${name}${random.pick(['[]', '[$ne]', '[0]'])}`, value];
          break;
        case 'grant':
          fields.push(['grant_type', random.pick(['password', 'authorization_code', '%00', 'client_credentials%00'])]);
          break;
      }
      return make('hostile form', { headers: form, body: formBody(fields), expected: [400, 401] });
    };
    attacks['hostile basic credentials'] = (random) => {
      const fields = Object.entries(validForm()).map(([name, value]): [string, string] => [name, encodeURIComponent(value)]);
      // Mostly Basic alone; sometimes credentials in the body as well, which is one method too many.
      const body = random.next() < 0.8 ? fields.filter(([name]) => name !== 'client_id' && name !== 'client_secret') : fields;
      return make('hostile basic credentials', { headers: { ...form, Authorization: random.pick(HOSTILE_BASIC) }, body: formBody(body), expected: [400, 401] });
    };
  }
  if (endpoint.namesToken) {
    const tokenInert = endpoint.namesToken.inert;
    // Revocation by a real client, so the token it names is what gets checked; a live token of another client is refused.
    const credentials = endpoint.clientAuthentication ? { client_id: tokens.client.clientId, client_secret: tokens.client.clientSecret } : {};
    const candidates = [...HOSTILE_TOKEN_VALUES, ...tokens.forged, ...(endpoint.clientAuthentication ? [tokens.admin] : [])];
    attacks['hostile token field'] = (random) => {
      const body: Record<string, unknown> = { ...credentials, token: random.pick(candidates) };
      if (random.next() < 0.2) body.token_type_hint = random.pick(['refresh_token', '\u0000', 'access_token\u0000', '\ud800']);
      return make('hostile token field', {
        headers: { ...caller, ...json },
        body: JSON.stringify(body),
        expected: [400, tokenInert.status],
        inert: tokenInert,
      });
    };
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
  if (endpoint.query) {
    attacks['hostile query'] = (random) =>
      make('hostile query', { path: `${endpoint.path}?${random.pick(HOSTILE_QUERIES)}`, headers: caller, expected: [400] });
  }
  if (endpoint.hostileQueries) {
    const queries = endpoint.hostileQueries;
    attacks['hostile filter or cursor'] = (random) =>
      make('hostile filter or cursor', { path: `${endpoint.path}?${random.pick(queries)}`, headers: caller, expected: [400] });
  }
  return attacks;
}
