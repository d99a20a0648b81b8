import type { Config } from '../../platform/config/index.ts';
import type { Logger } from '../../platform/logger.ts';
import { generateClientSecret } from './client-secrets.ts';
import type { ServiceAccounts } from './service-accounts.ts';
import type { ServiceAccount, ServiceAccountStore } from './service-account-store.ts';

/**
 * First start: an admin account from ADMIN_BOOTSTRAP_CLIENT_ID / _SECRET (config holds both or
 * neither). Without them, development generates one and prints its secret once (to the terminal,
 * not the log); production refuses to start with no admin at all, since nobody could ever manage
 * it. Returns the account it created, if any.
 */
export async function ensureBootstrapAdmin(
  config: Config,
  accounts: ServiceAccounts,
  store: ServiceAccountStore,
  logger: Logger,
  print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<ServiceAccount | undefined> {
  const { clientId, clientSecret } = config.identity.adminBootstrap;
  if (clientId && clientSecret) {
    if (await store.findByClientId(clientId)) return undefined;
    try {
      const { account } = await accounts.create({ name: 'Bootstrap admin', role: 'admin', client_id: clientId }, clientSecret.reveal());
      logger.info({ clientId }, 'bootstrap admin account created');
      return account;
    } catch (err) {
      // Another admin replica starting at the same moment created it first.
      if (!(await store.findByClientId(clientId))) throw err;
    }
    return undefined;
  }
  if ((await store.countActiveAdmins()) > 0) return undefined;
  if (config.environment === 'production') {
    throw new Error('no admin service account exists: set ADMIN_BOOTSTRAP_CLIENT_ID and ADMIN_BOOTSTRAP_CLIENT_SECRET (or _FILE) for the first start');
  }
  const secret = generateClientSecret();
  const { account } = await accounts.create({ name: 'Development admin', role: 'admin', client_id: 'admin-dev' }, secret);
  logger.warn({ clientId: account.clientId }, 'generated a development admin account; its secret is printed once on stdout');
  print(
    `Development admin account created. client_id=${account.clientId} client_secret=${secret} (shown once; set ADMIN_BOOTSTRAP_CLIENT_ID/_SECRET to choose your own)`,
  );
  return account;
}
