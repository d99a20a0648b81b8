import { SERVICE_NAMES, type ServiceName } from '../platform/config/index.ts';

/**
 * Servers outside this code base that the internal CA certifies so the modules reach them over
 * verified TLS. Their certificates come only from `npm run pki:issue`, which holds the CA's key; the
 * HTTP endpoint issues module identities alone, so no token can obtain one of these.
 */
export const INFRASTRUCTURE_IDENTITIES = ['redis', 'postgres'] as const;
export type InfrastructureIdentity = (typeof INFRASTRUCTURE_IDENTITIES)[number];

/** Every identity the CA signs for: a module or worker (SERVICE_NAMES), or a server above. */
export type CertificateIdentity = ServiceName | InfrastructureIdentity;

export const isInfrastructureIdentity = (name: string): name is InfrastructureIdentity => (INFRASTRUCTURE_IDENTITIES as readonly string[]).includes(name);

export const isModuleIdentity = (name: string): name is ServiceName => (SERVICE_NAMES as readonly string[]).includes(name);
