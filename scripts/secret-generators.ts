import { randomBytes, randomInt } from 'node:crypto';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Uniform [A-Za-z0-9] text, the alphabet scripts/generate_secrets.sh uses: safe in URLs, shells
 * and YAML. randomInt rejects out-of-range draws, so there is no modulo bias.
 */
export function randomAlphanumeric(length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return text;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}
