import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Env, SecretName } from '../../services/platform/config/index.ts';
import { randomAlphanumeric, randomHex } from '../secret-generators.ts';

const DEVELOPMENT_SECRETS: readonly { name: SecretName; file: string; generate: () => string }[] = [
  { name: 'AUDIT_LOG_SECRET_KEY', file: 'audit_log_secret_key', generate: () => `k1:${randomAlphanumeric(48)}` },
  { name: 'JWT_KEY_ENCRYPTION_KEY', file: 'jwt_key_encryption_key', generate: () => randomHex(32) },
  { name: 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY', file: 'audit_digest_key_encryption_key', generate: () => randomHex(32) },
  { name: 'ADMIN_BOOTSTRAP_CLIENT_SECRET', file: 'admin_bootstrap_client_secret', generate: () => randomAlphanumeric(48) },
  { name: 'STORAGE_CLIENT_SECRET', file: 'storage_client_secret', generate: () => randomAlphanumeric(48) },
];

/** The internal CA's key: made only for a start with TLS on (ARTSTORE_TLS=1), then kept, so the CA it sealed stays readable. */
const TLS_SECRETS: typeof DEVELOPMENT_SECRETS = [{ name: 'PKI_KEY_ENCRYPTION_KEY', file: 'pki_key_encryption_key', generate: () => randomHex(32) }];

/**
 * Development secrets, generated once into `dir` (mode 0600 files) and reused on later runs.
 * A secret the environment already gives (NAME or NAME_FILE) is left to it. Returns the `NAME_FILE`
 * variables the child processes need; with `tls`, the CA's key too.
 */
export async function ensureDevelopmentSecrets(dir: string, env: Env, options: { tls?: boolean } = {}): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const variables: Record<string, string> = {};
  for (const secret of options.tls ? [...DEVELOPMENT_SECRETS, ...TLS_SECRETS] : DEVELOPMENT_SECRETS) {
    if (env[secret.name] || env[`${secret.name}_FILE`]) continue;
    const file = path.join(dir, secret.file);
    const existing = await readFile(file, 'utf8').catch(() => '');
    if (existing.trim() === '') await writeSecretFile(file, secret.generate());
    else await chmod(file, 0o600);
    variables[`${secret.name}_FILE`] = file;
  }
  return variables;
}

export async function writeSecretFile(file: string, value: string): Promise<void> {
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  // mode applies only when the file is created; an older file may have been looser.
  await chmod(file, 0o600);
}
