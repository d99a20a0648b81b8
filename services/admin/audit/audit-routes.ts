import { once } from 'node:events';
import type { Express, Request, Response } from 'express';
import { z } from 'zod';
import type { AuditEventInput } from '../../audit-log/publisher.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { parseInput } from '../../platform/http/validation.ts';
import { createAuditKeyRing } from '../../audit-log/audit-signature.ts';
import { auditFilterSchema, auditPageSchema, createAuditQuery, type AuditFilter } from './audit-query.ts';
import { createRecordIntegrity } from './record-integrity.ts';

/** Exports run oldest first unless asked otherwise: the order a chain is read in. */
const exportSchema = auditFilterSchema.extend({ order: z.enum(['asc', 'desc']).default('asc') });

function readEvent(req: Request, action: 'query' | 'export', filter: AuditFilter, extra: Record<string, number> = {}): AuditEventInput {
  const filters = Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined));
  return {
    event_type: 'audit_log_read',
    action,
    status: 'success',
    resource_type: 'audit_log',
    ...requestAuditContext(req),
    details: { filters, ...extra },
  };
}

/** Writes one line, waiting while the socket's buffer is full; false once the client has gone. */
async function writeLine(res: Response, line: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(line)) return true;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
  return !res.destroyed;
}

/**
 * The audit log's read API (admin role). Every read is itself audited, and under fail-closed a
 * read that cannot be audited returns nothing (503): a query is recorded with how many records it
 * returned before they are sent; an export is recorded before its first line.
 */
export function mountAuditReadRoutes(app: Express, deps: ServiceDeps): void {
  const adminOnly = deps.auth.require('admin');
  const query = createAuditQuery(deps.prisma);
  const integrity = createRecordIntegrity(deps.prisma, createAuditKeyRing(deps.config.auditKeys));

  app.get('/api/v1/audit/logs', adminOnly, async (req, res) => {
    const page = parseInput(auditPageSchema, req.query);
    const result = await query.page(page);
    const mark = integrity.forRequest();
    const items = [];
    for (const item of result.items) items.push(await mark(item));
    const { limit, cursor, ...filter } = page;
    await deps.audit.publish(readEvent(req, 'query', filter, { limit, returned: items.length }));
    res.json({ items, next_cursor: result.nextCursor });
  });

  // NDJSON, one record per line, read and written a batch at a time so memory stays flat.
  app.get('/api/v1/audit/export', adminOnly, async (req, res) => {
    const filter = parseInput(exportSchema, req.query);
    await deps.audit.publish(readEvent(req, 'export', filter));
    res.status(200).type('application/x-ndjson');
    res.set({ 'Content-Disposition': `attachment; filename="audit-logs-${new Date().toISOString().slice(0, 10)}.ndjson"`, 'Cache-Control': 'no-store' });
    const mark = integrity.forRequest();
    for await (const record of query.all(filter)) {
      if (!(await writeLine(res, `${JSON.stringify(await mark(record))}\n`))) return;
    }
    res.end();
  });
}
