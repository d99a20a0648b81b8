import pg from 'pg';
import { testInfra } from './infra.ts';
import { waitFor } from './wait-for.ts';

export interface AuditRow {
  event_type: string;
  status: string;
  action: string;
  service_account_id: string | null;
  resource_type: string | null;
  resource_id: string | null;
  request_id: string | null;
  details: Record<string, unknown> | null;
  signature: string;
}

/** Rows the audit writer stored in audit_logs for one request id, waiting until `count` are there. */
export async function waitForAuditRows(requestId: string, count = 1, timeoutMs = 10_000): Promise<AuditRow[]> {
  const client = new pg.Client({ connectionString: testInfra().databaseUrl });
  await client.connect();
  try {
    const sql =
      'SELECT event_type, status, action, service_account_id, resource_type, resource_id, request_id, details, signature FROM audit_logs WHERE request_id = $1 ORDER BY sequence';
    return await waitFor(async () => (await client.query<AuditRow>(sql, [requestId])).rows, {
      until: (rows) => rows.length >= count,
      timeoutMs,
      message: (rows) => `${count} audit rows for request ${requestId} (${rows.length} so far)`,
    });
  } finally {
    await client.end();
  }
}
