import type { Config } from '../platform/config/index.ts';
import type { Logger } from '../platform/logger.ts';
import { startService, type RunningService } from '../platform/runtime.ts';
import { AppError } from '../platform/errors.ts';
import { createIdentity } from './identity/routes.ts';
import { createServiceAccountStore } from './identity/service-account-store.ts';
import type { SigningKey } from './identity/token-issuer.ts';
import { ChangeTopic } from '../platform/change-notices.ts';
import { createKeyService, type KeyService } from '../signing-keys/key-service.ts';
import { mountKeyRoutes } from './keys/routes.ts';
import { mountQueueDashboard } from './queues/queue-dashboard.ts';
import { mountAdminConsole } from './console/console-routes.ts';
import { mountAuditReadRoutes } from './audit/audit-routes.ts';
import { ensureStorageAccount } from './storage/storage-account.ts';
import { mountStorageOverview } from './storage/storage-overview.ts';
import { mountAuditProofRoutes } from './audit/proof-routes.ts';
import { mountAuditVerifyRoute } from './audit/verify-routes.ts';
import { mountAuditDigestRoutes } from './audit/digest-routes.ts';
import { createCertificateAuthority, type CertificateAuthority } from '../pki/certificate-authority.ts';
import { certificatesFromAuthority, writeTrustBundle } from '../pki/authority-source.ts';
import { mountPkiRoutes } from './pki/pki-routes.ts';

/** The admin module: identity (service accounts, tokens, JWKS), signing keys, the audit read side and Bull Board. */
export function start(config: Config, options: { logger?: Logger } = {}): Promise<RunningService> {
  let identity: ReturnType<typeof createIdentity> | undefined;
  // Signing keys (services/signing-keys) provide the active key for the token endpoint.
  let signingKey: () => Promise<SigningKey> = () => Promise.reject(new Error('signing keys are not wired yet'));
  let keys: KeyService | undefined;
  let closeQueueDashboard: (() => Promise<void>) | undefined;
  let closeProofPool: (() => Promise<void>) | undefined;
  let ca: CertificateAuthority | undefined;
  return startService(config, {
    certificates: () => certificatesFromAuthority(ca!, 'admin'),
    // The console and Bull Board answer only their own pages: a cookie opens them.
    sameOriginOnly: ['/admin'],
    logger: options.logger,
    verificationKeys: () => keys?.verificationKeys().getKey,
    readiness: [
      {
        name: 'login-throttle',
        check: async () => {
          if (!identity) throw new Error('not prepared yet');
          await identity.throttleStateLoaded();
        },
      },
    ],
    // Every admin call re-reads its caller: a suspended or deleted account is refused even in the
    // moments before its revocation reaches this replica.
    confirmPrincipal: async (principal, deps) => {
      const account = await createServiceAccountStore(deps.prisma).findById(principal.serviceAccountId);
      if (account?.status !== 'active') {
        throw new AppError(401, 'token_revoked', 'The account of this token is suspended or deleted', {
          headers: { 'WWW-Authenticate': 'Bearer realm="artstore", error="invalid_token"' },
        });
      }
    },
    prepare: async (deps) => {
      identity = createIdentity(deps, () => signingKey());
      await identity.bootstrap();
      await ensureStorageAccount(deps, identity.accounts);
      identity.followChanges();
      await identity.loadThrottleState();

      // Signing keys: both exist before the first token; a rotation or revocation anywhere drops the cached key at once.
      const keyService = createKeyService(deps);
      keys = keyService;
      await keyService.ensure();
      const provider = keyService.signingKeys();
      signingKey = () => provider.current();
      deps.notices.on(ChangeTopic.KeysChanged, () => keyService.dropCachedKeys());

      // The internal CA: set up at the first start, its bundle written where the other processes start from.
      if (config.pki.keyEncryptionKey) {
        const authority = createCertificateAuthority(deps.prisma, config.pki);
        ca = authority;
        await authority.ensure();
        const { bundleFile } = config.pki;
        const publishBundle = async () => {
          if (bundleFile) await writeTrustBundle(bundleFile, await authority.trustBundle());
        };
        await publishBundle();
        deps.notices.on(ChangeTopic.PkiChanged, () => {
          authority.dropCached();
          publishBundle().catch((err: Error) => deps.logger.error({ err: err.message }, 'could not write the trust bundle file'));
        });
      }
    },
    routes: (app, deps) => {
      identity!.mount(app);
      mountKeyRoutes(app, deps, keys!);
      const adminConsole = mountAdminConsole(app, deps, identity!);
      closeQueueDashboard = mountQueueDashboard(app, deps, adminConsole.requireAdmin);
      app.use('/admin', adminConsole.consoleErrors);
      mountAuditReadRoutes(app, deps);
      mountStorageOverview(app, deps);
      mountAuditVerifyRoute(app, deps);
      closeProofPool = mountAuditProofRoutes(app, deps);
      mountAuditDigestRoutes(app, deps);
      if (ca) mountPkiRoutes(app, deps, ca);
    },
    beforeStop: async () => {
      await closeQueueDashboard?.();
      await closeProofPool?.();
    },
  });
}
