import type { ServiceDeps } from '../../platform/runtime.ts';
import { accountChangeEvents } from '../identity/account-audit.ts';
import { secretMatchesHash } from '../identity/client-secrets.ts';
import { createServiceAccountStore, type ServiceAccount } from '../identity/service-account-store.ts';
import type { ServiceAccounts } from '../identity/service-accounts.ts';

/**
 * The `storage` account the modules call each other with (STORAGE_CLIENT_ID / _SECRET), created on
 * the first start that names it, like the bootstrap admin. An existing account is left as it is:
 * a secret rotated through the API is never reverted, only reported when it no longer matches.
 */
export async function ensureStorageAccount(deps: ServiceDeps, accounts: ServiceAccounts): Promise<void> {
  const { clientId, clientSecret } = deps.config.storage.client;
  if (!clientId || !clientSecret) return;
  const store = createServiceAccountStore(deps.prisma);
  const existing = await store.findByClientId(clientId);
  if (existing) {
    if (existing.role !== 'storage' && existing.role !== 'admin')
      deps.logger.error({ clientId, role: existing.role }, 'STORAGE_CLIENT_ID names an account without the storage role');
    if (!secretMatchesHash(clientSecret.reveal(), existing.secretHash))
      deps.logger.error({ clientId }, 'STORAGE_CLIENT_SECRET does not match the storage account; module-to-module calls will fail');
    return;
  }
  let created: ServiceAccount;
  try {
    ({ account: created } = await accounts.create({ name: 'Module-to-module storage', role: 'storage', client_id: clientId }, clientSecret.reveal()));
  } catch (err) {
    // Another admin replica starting at the same moment created it first.
    if (await store.findByClientId(clientId)) return;
    throw err;
  }
  deps.logger.info({ clientId }, 'storage service account created');
  // Like the bootstrap admin's: the account exists either way, so the event is committed and a lost one only logged.
  const event = accountChangeEvents<ServiceAccount>({}, 'service_account_created', 'bootstrap', (account) => account).success(created);
  if (event)
    await deps.audit
      .publish(event, { committed: true })
      .catch((err: Error) => deps.logger.error({ err: err.message }, 'audit event of the storage account was lost'));
}
