import type { Express } from 'express';
import pg from 'pg';
import { z } from 'zod';
import { createAuditProofs, ProofUnavailableError } from '../../audit-log/proofs.ts';
import { AppError } from '../../platform/errors.ts';
import { parseInput } from '../../platform/http/validation.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';

const size = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const inclusionQuery = z.strictObject({ event_id: z.uuid(), tree_size: size.optional() });
const consistencyQuery = z.strictObject({ chain_id: z.coerce.number().int().min(0).max(2_147_483_647).default(0), first: size, second: size });
const treeHeadQuery = z.strictObject({ chain_id: z.coerce.number().int().min(0).max(2_147_483_647).default(0), tree_size: size.optional() });

function asAppError(err: unknown): unknown {
  if (!(err instanceof ProofUnavailableError)) return err;
  return err.reason === 'tree_size_out_of_range' ? new AppError(400, 'invalid_request', err.message) : new AppError(404, 'not_found', err.message);
}

/**
 * Merkle proofs over the audit chains (admin role), for an auditor who keeps signed tree heads:
 * `GET /api/v1/audit/proofs/inclusion?event_id=…[&tree_size=N]` (RFC 9162 §2.1.3; by default at the
 * latest signed digest that covers the record, returned with it as `signed_tree_head`),
 * `GET /api/v1/audit/proofs/consistency?first=N&second=M[&chain_id=0]` (§2.1.4), and
 * `GET /api/v1/audit/tree-head?[chain_id=0][&tree_size=N]`. Proofs reveal hashes only.
 */
export function mountAuditProofRoutes(app: Express, deps: ServiceDeps): () => Promise<void> {
  // A small pool of its own for proofs (see createAuditProofs), closed with the process.
  const pool = new pg.Pool({ connectionString: deps.config.databaseUrl.reveal(), max: 2 });
  pool.on('error', (err) => deps.logger.warn({ err: err.message }, 'audit proof pool error'));
  const proofs = createAuditProofs(deps.prisma, pool);
  const adminOnly = deps.auth.require('admin');
  const answer = <T>(work: () => Promise<T>) =>
    work().catch((err: unknown) => {
      throw asAppError(err);
    });

  app.get('/api/v1/audit/proofs/inclusion', adminOnly, async (req, res) => {
    const query = parseInput(inclusionQuery, req.query);
    res.set('Cache-Control', 'no-store').json(await answer(() => proofs.inclusion(query.event_id, query.tree_size)));
  });
  app.get('/api/v1/audit/proofs/consistency', adminOnly, async (req, res) => {
    const query = parseInput(consistencyQuery, req.query);
    res.set('Cache-Control', 'no-store').json(await answer(() => proofs.consistency(query.chain_id, query.first, query.second)));
  });
  app.get('/api/v1/audit/tree-head', adminOnly, async (req, res) => {
    const query = parseInput(treeHeadQuery, req.query);
    res.set('Cache-Control', 'no-store').json(await answer(() => proofs.treeHead(query.chain_id, query.tree_size)));
  });
  return () => pool.end();
}
