import type { Express } from 'express';
import { z } from 'zod';
import { publishedDigestKeys } from '../../audit-log/digests/digest-keys.ts';
import { digestsAfter } from '../../audit-log/digests/digest-store.ts';
import { parseInput } from '../../platform/http/validation.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';

const digestsQuery = z.strictObject({
  chain_id: z.coerce.number().int().min(0).max(2_147_483_647).default(0),
  /** The last digest number (`seq`) already read; 0 for the first page. */
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Every digest key is kept published for as long as digests are: a short HTTP cache is enough for a set that only grows. */
const KEYS_MAX_AGE_SECONDS = 60;

/**
 * Signed audit digests: `GET /.well-known/audit-keys.json` (public) is the JWKS of every digest key
 * ever made, with its state and dates; `GET /api/v1/audit/digests?chain_id=&after=&limit=` (admin
 * role) pages through a chain's digests oldest first, each exactly as signed; `next_after` is the
 * `after` of the next page (null on the last one). Digests reveal hashes and signatures only.
 */
export function mountAuditDigestRoutes(app: Express, deps: ServiceDeps): void {
  const adminOnly = deps.auth.require('admin');

  app.get('/.well-known/audit-keys.json', async (_req, res) => {
    res.set('Cache-Control', `public, max-age=${KEYS_MAX_AGE_SECONDS}`).json(await publishedDigestKeys(deps.prisma));
  });
  app.get('/api/v1/audit/digests', adminOnly, async (req, res) => {
    const query = parseInput(digestsQuery, req.query);
    const page = await digestsAfter(deps.prisma, query.chain_id, query.after, query.limit);
    res.set('Cache-Control', 'no-store').json({
      chain_id: query.chain_id,
      digests: page.map((stored) => stored.digest),
      next_after: page.length === query.limit ? page.at(-1)!.seq : null,
    });
  });
}
