/**
 * `npm start` with ARTSTORE_TLS=1: the whole system with TLS_MODE=on, as production runs it. Admin
 * holds the internal CA (its key a development secret) and writes the trust bundle to
 * `<data directory>/pki/ca.pem`, which every other process starts from and the launcher's health
 * checks, the summary's curl (`--cacert`) and the command lines trust.
 *
 * Off by default: a first run needs no certificate, a plain `curl` works, and nothing is to be
 * trusted; TLS is one variable away when the work concerns it.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';

export function parseLauncherTls(value: string | undefined): boolean {
  const text = (value ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'no', 'off'].includes(text)) return false;
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  throw new Error(`ARTSTORE_TLS must be 1 (TLS on) or 0, got "${value}"`);
}

/** Where admin writes the bundle under `npm start`; PKI_BUNDLE_FILE and TLS_CA_FILE both name it. */
export const bundleFileOf = (dataDir: string) => path.join(dataDir, 'pki', 'ca.pem');

/** The variables that turn TLS on for every process of this start. */
export function tlsEnvironment(dataDir: string): NodeJS.ProcessEnv {
  const bundle = bundleFileOf(dataDir);
  return { TLS_MODE: 'on', PKI_BUNDLE_FILE: bundle, TLS_CA_FILE: bundle };
}

/**
 * A previous start's bundle is removed before admin starts: admin writes the current one before it
 * listens, so a bundle that is there was written by this start.
 */
export async function removeOldBundle(dataDir: string): Promise<void> {
  await rm(bundleFileOf(dataDir), { force: true });
}

/**
 * fetch trusting the bundle in `file`, read once it exists (admin writes it before it listens): until
 * then every call fails like a server that is not up yet.
 */
export function bundleFetch(file: string): { fetch: typeof fetch; close(): Promise<void> } {
  let agent: Agent | undefined;
  const call = async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    agent ??= new Agent({ connect: { ca: await readFile(file, 'utf8') } });
    return undiciFetch(input as string, { ...(init as object), dispatcher: agent }) as unknown as Response;
  };
  return { fetch: call as typeof fetch, close: async () => agent?.close() };
}
