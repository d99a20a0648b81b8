/**
 * Which modes the hostile-input and fault suites run the system in: SUITE_TLS=off (plain HTTP),
 * on (TLS 1.3 and mutual TLS between the modules) or both, one after the other (the default).
 */
export type SuiteTlsMode = 'off' | 'on';

export function suiteTlsModes(value = process.env.SUITE_TLS ?? 'both'): SuiteTlsMode[] {
  if (value === 'both') return ['off', 'on'];
  if (value === 'off' || value === 'on') return [value];
  throw new Error(`SUITE_TLS must be off, on or both, not "${value}"`);
}
