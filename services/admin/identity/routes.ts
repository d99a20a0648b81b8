import { Counter } from 'prom-client';
import { z } from 'zod';
import type { Express } from 'express';
import { parseInput } from '../../platform/http/validation.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { createServiceAccountStore } from './service-account-store.ts';
import { createServiceAccounts, newAccountSchema, toView } from './service-accounts.ts';
import { createLoginThrottle } from './login-throttle.ts';
import { tokenEndpoint } from './token-endpoint.ts';
import { introspectionEndpoint, revocationEndpoint } from './token-revocation.ts';
import type { SigningKey } from './token-issuer.ts';
import { ensureBootstrapAdmin } from './bootstrap.ts';
import { accountChangeEvents } from './account-audit.ts';
import { auditedAction } from '../../audit-log/audited-action.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import type { ServiceAccount } from './service-account-store.ts';
import { ChangeTopic, publishChangeNotice } from '../../platform/change-notices.ts';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});

const rotateSecretBody = z.strictObject({
  /** End the old secret's overlap now and revoke every token issued so far (a leaked secret). */
  revoke_previous: z.boolean().default(false),
});

/** Service identity: the token endpoint, discovery, and the admin API for service accounts. */
export function createIdentity(deps: ServiceDeps, signingKey: () => Promise<SigningKey>) {
  const store = createServiceAccountStore(deps.prisma);
  const accounts = createServiceAccounts(store, {
    secretOverlapSeconds: deps.config.identity.secretRotationOverlapSeconds,
    onChanged: (clientId) => void publishChangeNotice(deps.redis, deps.config.bullmqPrefix, ChangeTopic.AccountsChanged, { clientId }, deps.logger),
    onRevoked: ({ serviceAccountId, notBefore }) => {
      const notice = { service_account_id: serviceAccountId, not_before: notBefore.toISOString() };
      // This process refuses at once; the others within moments, or at their next reload if the notice is lost.
      deps.revocations.apply(notice);
      void publishChangeNotice(deps.redis, deps.config.bullmqPrefix, ChangeTopic.TokensRevoked, notice, deps.logger);
    },
  });
  const throttle = createLoginThrottle(deps.redis, deps.config.bullmqPrefix, deps.config.identity.throttle, { notices: deps.notices, logger: deps.logger });
  const throttled = new Counter({
    name: 'auth_throttled_total',
    help: 'Credential checks refused by the brute-force limits, by the limit that refused them (address, client)',
    labelNames: ['reason'],
    registers: [deps.metrics.registry],
  });
  const clientAuth = { accounts, throttle, throttled, audit: deps.audit };
  const tokensIssued = new Counter({
    name: 'jwt_tokens_issued_total',
    help: 'Token requests answered by the admin module, by result (issued, invalid_client, invalid_request, unsupported_grant_type)',
    labelNames: ['result'],
    registers: [deps.metrics.registry],
  });

  function mount(app: Express) {
    const { jwt } = deps.config;
    const adminOnly = deps.auth.require('admin');

    app.post('/api/v1/auth/token', tokenEndpoint({ ...clientAuth, config: deps.config, tokensIssued, signingKey, revocations: deps.revocations }));
    app.post('/api/v1/auth/revoke', revocationEndpoint({ ...clientAuth, auth: deps.auth, revokeIssuedUpTo: accounts.revokeIssuedUpTo }));
    app.post('/api/v1/auth/introspect', deps.auth.require(...deps.config.identity.introspectionRoles), introspectionEndpoint({ auth: deps.auth, store }));
    app.get('/.well-known/openid-configuration', (_req, res) => {
      const base = deps.selfUrl();
      res.json({
        issuer: jwt.issuer,
        jwks_uri: `${base}/.well-known/jwks.json`,
        token_endpoint: `${base}/api/v1/auth/token`,
        revocation_endpoint: `${base}/api/v1/auth/revoke`,
        introspection_endpoint: `${base}/api/v1/auth/introspect`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
      });
    });

    app.post('/api/v1/service-accounts', adminOnly, async (req, res) => {
      const input = parseInput(newAccountSchema, req.body);
      const { account, clientSecret } = await auditedAction(
        deps.audit,
        () => accounts.create(input),
        accountChangeEvents(requestAuditContext(req), 'service_account_created', 'create', (created) => created.account, { clientId: input.client_id }),
        res,
      );
      res.status(201).json({ service_account: toView(account), client_secret: clientSecret });
    });
    app.get('/api/v1/service-accounts', adminOnly, async (req, res) => {
      const { limit, cursor } = parseInput(listQuery, req.query);
      const page = await accounts.list(limit, cursor);
      res.json({ items: page.items.map(toView), next_cursor: page.nextCursor });
    });
    app.get('/api/v1/service-accounts/:id', adminOnly, async (req, res) => {
      res.json(toView(await accounts.get(req.params.id as string)));
    });
    for (const [action, status] of [
      ['suspend', 'suspended'],
      ['activate', 'active'],
    ] as const) {
      app.post(`/api/v1/service-accounts/:id/${action}`, adminOnly, async (req, res) => {
        const id = req.params.id as string;
        const changed = await auditedAction(
          deps.audit,
          () => accounts.setStatus(id, status, req.principal!.serviceAccountId),
          accountChangeEvents(requestAuditContext(req), 'service_account_updated', action, (account) => account, { id }),
          res,
        );
        res.json(toView(changed));
      });
    }
    app.delete('/api/v1/service-accounts/:id', adminOnly, async (req, res) => {
      const id = req.params.id as string;
      await auditedAction(
        deps.audit,
        () => accounts.remove(id, req.principal!.serviceAccountId),
        accountChangeEvents(requestAuditContext(req), 'service_account_deleted', 'delete', (account) => account, { id }),
        res,
      );
      res.status(204).end();
    });
    app.post('/api/v1/service-accounts/:id/rotate-secret', adminOnly, async (req, res) => {
      const id = req.params.id as string;
      const { revoke_previous: revokePrevious } = parseInput(rotateSecretBody, req.body ?? {});
      const rotated = await auditedAction(
        deps.audit,
        () => accounts.rotateSecret(id, { revokePrevious }),
        accountChangeEvents(requestAuditContext(req), 'secret_rotated', 'rotate_secret', (result) => result.account, { id }),
        res,
      );
      res.json({
        service_account: toView(rotated.account),
        client_secret: rotated.clientSecret,
        previous_secret_expires_at: rotated.previousSecretExpiresAt?.toISOString() ?? null,
        tokens_revoked_before: rotated.revocation?.notBefore.toISOString() ?? null,
      });
    });
    app.post('/api/v1/service-accounts/:id/revoke-tokens', adminOnly, async (req, res) => {
      const id = req.params.id as string;
      const revoked = await auditedAction(
        deps.audit,
        () => accounts.revokeTokens(id),
        accountChangeEvents(requestAuditContext(req), 'tokens_revoked', 'revoke_tokens', (account) => account, { id }),
        res,
      );
      res.json({ service_account_id: revoked.id, tokens_revoked_before: revoked.revocation.notBefore.toISOString() });
    });
  }

  return {
    accounts,
    /** The account store and the credential check behind the brute-force limits, for the admin console's login. */
    store,
    clientAuth,
    mount,
    /** What the brute-force limits hold in Redis now (locks made before this replica started). */
    loadThrottleState: () => throttle.load(),
    /** Readiness: fails until the brute-force limits' state has been loaded from Redis. */
    throttleStateLoaded: () => throttle.ensureLoaded(),
    async bootstrap() {
      const created = await ensureBootstrapAdmin(deps.config, accounts, store, deps.logger);
      const event = created && accountChangeEvents<ServiceAccount>({}, 'service_account_created', 'bootstrap', (a) => a).success(created);
      if (event)
        await deps.audit
          .publish(event, { committed: true })
          .catch((err: Error) => deps.logger.error({ err: err.message }, 'audit event of the bootstrap admin was lost'));
    },
    /** Drops cached accounts when another replica changes one (all of them after a reconnect). */
    followChanges: () => deps.notices.on(ChangeTopic.AccountsChanged, (notice) => accounts.forgetCached(notice?.clientId)),
  };
}
