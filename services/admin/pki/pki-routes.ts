import type { Express } from 'express';
import { z } from 'zod';
import { auditedAction } from '../../audit-log/audited-action.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import type { Role } from '../../platform/auth/roles.ts';
import { SERVICE_NAMES, type ServiceName } from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors.ts';
import { parseInput } from '../../platform/http/validation.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { CERTIFICATES_PATH, TRUST_BUNDLE_PATH } from '../../platform/tls/certificate-source.ts';
import type { CertificateAuthority } from '../../pki/certificate-authority.ts';
import { CertificateRequestError } from '../../pki/leaf-certificates.ts';

/**
 * Which identities each role may ask a certificate for. The module-to-module account (storage) gets
 * any module's but admin's, so a leaked module token cannot pose as the CA's own module.
 */
const IDENTITIES_BY_ROLE: Readonly<Partial<Record<Role, readonly ServiceName[]>>> = {
  admin: SERVICE_NAMES,
  storage: SERVICE_NAMES.filter((name) => name !== 'admin'),
};

const certificateRequest = z.strictObject({
  // Its length is the CA's to check (MAX_CSR_PEM_LENGTH), so a CSR too long is invalid_csr like every other bad one.
  csr: z.string().min(1),
  service: z.enum(SERVICE_NAMES),
});

/** The CA's public side on admin: the trust bundle for anyone, workload certificates for the modules. */
export function mountPkiRoutes(app: Express, deps: ServiceDeps, ca: CertificateAuthority) {
  app.get(TRUST_BUNDLE_PATH, async (_req, res) => {
    res
      .set('Cache-Control', 'no-cache')
      .type('application/pem-certificate-chain')
      .send(await ca.trustBundle());
  });

  app.post(CERTIFICATES_PATH, deps.auth.require('storage'), async (req, res) => {
    const { csr, service } = parseInput(certificateRequest, req.body);
    const role = req.principal!.role;
    if (!IDENTITIES_BY_ROLE[role]?.includes(service)) {
      throw new AppError(403, 'identity_not_allowed', `Role "${role}" may not have a certificate for ${service}`);
    }
    const leaf = await auditedAction(
      deps.audit,
      async () => {
        try {
          return await ca.issue({ csrPem: csr, service });
        } catch (err) {
          if (err instanceof CertificateRequestError) throw new AppError(400, 'invalid_csr', err.message);
          throw err;
        }
      },
      {
        success: (issued) => ({
          event_type: 'certificate_issued',
          action: 'issue',
          status: 'success',
          resource_type: 'certificate',
          resource_id: issued.serialNumber,
          ...requestAuditContext(req),
          details: { spiffe_id: issued.spiffeId, not_after: issued.notAfter.toISOString(), issuer: issued.issuerFingerprint },
        }),
      },
      res,
    );
    res.status(201).json({
      spiffe_id: leaf.spiffeId,
      serial_number: leaf.serialNumber,
      not_after: leaf.notAfter.toISOString(),
      certificate: leaf.certificate,
      chain: leaf.chain,
    });
  });
}
