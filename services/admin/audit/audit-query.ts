import { z } from 'zod';
import { AUDIT_EVENT_TYPES, AuditCategory, AuditStatus } from '../../audit-log/events.ts';
import type { Prisma, PrismaClient } from '../../platform/db/client.ts';
import { AppError } from '../../platform/errors.ts';
import { storableText } from '../../platform/storable-text.ts';

type AuditLogRow = Awaited<ReturnType<PrismaClient['auditLog']['findMany']>>[number];

/** Filters of the read API, all optional; `from` inclusive and `to` exclusive on the event's timestamp. */
export const auditFilterSchema = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  event_type: z.enum(AUDIT_EVENT_TYPES).optional(),
  event_category: z.enum(Object.values(AuditCategory) as [AuditCategory, ...AuditCategory[]]).optional(),
  status: z.enum([AuditStatus.Success, AuditStatus.Failure, AuditStatus.Denied]).optional(),
  service_account_id: storableText(100).optional(),
  resource_type: storableText(50).optional(),
  resource_id: storableText(200).optional(),
  source: storableText(30).optional(),
  request_id: storableText(128).optional(),
  chain_id: z.coerce.number().int().min(0).max(2_147_483_647).optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
});
export type AuditFilter = z.infer<typeof auditFilterSchema>;

export const auditPageSchema = auditFilterSchema.extend({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(300).optional(),
});

/** An audit record as the API shows it: the column names of audit_logs, the sequence as a string. */
export function toAuditView(row: AuditLogRow) {
  return {
    event_id: row.eventId,
    event_type: row.eventType,
    event_category: row.eventCategory,
    timestamp: row.timestamp.toISOString(),
    user_id: row.userId,
    service_account_id: row.serviceAccountId,
    ip_address: row.ipAddress,
    user_agent: row.userAgent,
    resource_type: row.resourceType,
    resource_id: row.resourceId,
    action: row.action,
    status: row.status,
    details: row.details,
    source: row.source,
    request_id: row.requestId,
    chain_id: row.chainId,
    sequence: row.sequence.toString(),
    prev_signature: row.prevSignature,
    key_id: row.keyId,
    signature: row.signature,
    recorded_at: row.recordedAt.toISOString(),
  };
}

interface Position {
  timestamp: Date;
  eventId: string;
}

/** Cursors name the last record shown and the order they were made for. */
const encodeCursor = (order: 'asc' | 'desc', at: Position) => Buffer.from(`${order}|${at.timestamp.toISOString()}|${at.eventId}`).toString('base64url');

function decodeCursor(order: 'asc' | 'desc', cursor: string): Position {
  const [madeFor, time, eventId] = Buffer.from(cursor, 'base64url').toString().split('|');
  const timestamp = new Date(time ?? '');
  if (madeFor !== order || !z.uuid().safeParse(eventId).success || Number.isNaN(timestamp.getTime())) {
    throw new AppError(400, 'invalid_cursor', 'cursor is not one this API returned for this order');
  }
  return { timestamp, eventId: eventId! };
}

function whereOf(filter: AuditFilter, after?: Position): Prisma.AuditLogWhereInput {
  if (filter.from && filter.to && new Date(filter.from) >= new Date(filter.to)) throw new AppError(400, 'invalid_request', 'from must be before to');
  const beyond = filter.order === 'asc' ? 'gt' : 'lt';
  return {
    timestamp: { gte: filter.from ? new Date(filter.from) : undefined, lt: filter.to ? new Date(filter.to) : undefined },
    eventType: filter.event_type,
    eventCategory: filter.event_category,
    status: filter.status,
    serviceAccountId: filter.service_account_id,
    resourceType: filter.resource_type,
    resourceId: filter.resource_id,
    source: filter.source,
    requestId: filter.request_id,
    chainId: filter.chain_id,
    ...(after && { OR: [{ timestamp: { [beyond]: after.timestamp } }, { timestamp: after.timestamp, eventId: { [beyond]: after.eventId } }] }),
  };
}

/** Data access for reading audit_logs: keyset pages in timestamp order (event_id breaks ties). */
export function createAuditQuery(prisma: PrismaClient) {
  const read = (filter: AuditFilter, take: number, after?: Position) =>
    prisma.auditLog.findMany({
      where: whereOf(filter, after),
      orderBy: [{ timestamp: filter.order }, { eventId: filter.order }],
      take,
    });

  return {
    async page(query: z.infer<typeof auditPageSchema>) {
      const rows = await read(query, query.limit + 1, query.cursor ? decodeCursor(query.order, query.cursor) : undefined);
      const items = rows.slice(0, query.limit);
      const last = items.at(-1);
      return { items: items.map(toAuditView), nextCursor: rows.length > query.limit && last ? encodeCursor(query.order, last) : null };
    },

    /** Every matching record, a batch at a time, so an export of millions holds one batch in memory. */
    async *all(filter: AuditFilter, batchSize = 1000): AsyncGenerator<ReturnType<typeof toAuditView>> {
      let after: Position | undefined;
      for (;;) {
        const rows = await read(filter, batchSize, after);
        for (const row of rows) yield toAuditView(row);
        if (rows.length < batchSize) return;
        after = rows.at(-1);
      }
    },
  };
}
