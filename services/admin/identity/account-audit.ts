import { statusOf, reasonOf, type ActionEvents } from '../../audit-log/audited-action.ts';
import type { AuditEventInput } from '../../audit-log/publisher.ts';
import type { AuditEventType } from '../../audit-log/events.ts';
import type { ServiceAccount } from './service-account-store.ts';

type AccountEventType = Extract<
  AuditEventType,
  'service_account_created' | 'service_account_deleted' | 'service_account_updated' | 'secret_rotated' | 'tokens_revoked'
>;

/**
 * The audit events of one admin action on a service account: who (`context`: the caller's account,
 * IP, user agent, request id) did what to which account. Never a secret or its hash.
 */
export function accountChangeEvents<T>(
  context: Partial<AuditEventInput>,
  type: AccountEventType,
  action: string,
  accountOf: (result: T) => ServiceAccount,
  target: { id?: string; clientId?: string } = {},
): Required<ActionEvents<T>> {
  const base = (status: AuditEventInput['status'], resourceId: string | undefined, details: Record<string, string | null>): AuditEventInput => ({
    event_type: type,
    action,
    status,
    resource_type: 'service_account',
    resource_id: resourceId ?? null,
    ...context,
    details,
  });
  return {
    success: (result) => {
      const account = accountOf(result);
      return base('success', account.id, { client_id: account.clientId, name: account.name, role: account.role, account_status: account.status });
    },
    failed: (error) => base(statusOf(error), target.id?.slice(0, 200), { client_id: target.clientId ?? null, reason: reasonOf(error) }),
  };
}
