import { Counter, type Registry } from 'prom-client';

export type RotationKind = 'leaf' | 'bundle' | 'intermediate' | 'root';

/**
 * tls_certificate_rotations_total{kind,status}: every process counts its own leaf and bundle
 * changes, the maintenance worker the CA's intermediate and root rotations. One counter per
 * registry, whoever asks first.
 */
export function tlsRotations(registry: Registry): Counter<'kind' | 'status'> {
  const existing = registry.getSingleMetric('tls_certificate_rotations_total') as Counter<'kind' | 'status'> | undefined;
  return (
    existing ??
    new Counter({
      name: 'tls_certificate_rotations_total',
      help: 'Certificate rotations by kind (leaf and bundle in every process; intermediate and root on the CA) and status',
      labelNames: ['kind', 'status'],
      registers: [registry],
    })
  );
}
