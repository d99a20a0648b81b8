import type { Express } from 'express';
import { Counter } from 'prom-client';
import { z } from 'zod';
import { createAuditKeyRing } from '../../audit-log/audit-signature.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { parseInput } from '../../platform/http/validation.ts';
import { verifyAuditLog } from '../../audit-log/verify-chain.ts';

const verifyQuerySchema = z.strictObject({
  /** Records stored (recorded_at) at or after this instant. */
  from: z.iso.datetime({ offset: true }).optional(),
  /** Records stored before this instant; the chain head is then not compared. */
  to: z.iso.datetime({ offset: true }).optional(),
  /** Only this chain (AUDIT_CHAINS spreads the log over several; each can be checked on its own). */
  chain_id: z.coerce.number().int().min(0).max(2_147_483_647).optional(),
});

/**
 * `GET /api/v1/audit/verify` (admin role): checks every signature and link of the audit chains (or
 * of one, `chain_id`), or of the records stored in [from, to), and reports the first broken point,
 * its chain and its kind, and each chain's own report. The
 * answer is 200 either way (`ok` tells); broken points count in audit_log_verification_failures_total
 * and the check is itself an audit event.
 */
export function mountAuditVerifyRoute(app: Express, deps: ServiceDeps): void {
  const failures = new Counter({
    name: 'audit_log_verification_failures_total',
    help: 'Broken points found by audit log verification (modified, deleted, inserted, reordered or truncated records)',
    registers: [deps.metrics.registry],
  });
  const keyRing = createAuditKeyRing(deps.config.auditKeys);

  app.get('/api/v1/audit/verify', deps.auth.require('admin'), async (req, res) => {
    const range = parseInput(verifyQuerySchema, req.query);
    const report = await verifyAuditLog(deps.prisma, keyRing, {
      from: range.from ? new Date(range.from) : undefined,
      to: range.to ? new Date(range.to) : undefined,
      retentionDays: deps.config.audit.retentionDays,
      chainIds: range.chain_id === undefined ? undefined : [range.chain_id],
    });
    if (report.breaks > 0) {
      failures.inc(report.breaks);
      req.log.error({ firstBreak: report.first_break, breaks: report.breaks }, 'audit log verification failed');
    }
    await deps.audit.publish({
      event_type: 'audit_log_read',
      action: 'verify',
      status: report.ok ? 'success' : 'failure',
      resource_type: 'audit_log',
      ...requestAuditContext(req),
      details: {
        filters: { ...range },
        records_checked: report.records_checked,
        breaks: report.breaks,
        first_break: report.first_break
          ? { kind: report.first_break.kind, chain_id: report.first_break.chain_id, sequence: report.first_break.sequence }
          : null,
      },
    });
    res.set('Cache-Control', 'no-store').json(report);
  });
}
