/**
 * The files `npm run pki:issue` leaves for a server that is not ours (Redis, PostgreSQL), named as
 * both take them: `tls.crt` (the certificate, then its intermediate), `tls.key` (its private key,
 * mode 0600: PostgreSQL refuses a key others can read) and `ca.pem` (the trust bundle).
 */
import { chown, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const CERTIFICATE_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';
export const BUNDLE_FILE = 'ca.pem';

/** `uid:gid` (or `uid`) the files are handed to: the user the server runs as, when this runs as root. */
export interface FileOwner {
  uid: number;
  gid: number;
}

export async function readPresentCertificate(dir: string): Promise<string | undefined> {
  return readFile(path.join(dir, CERTIFICATE_FILE), 'utf8').catch(() => undefined);
}

/** Each file written whole beside its final name and renamed into place, so a server never reads half of one. */
async function writeWhole(file: string, content: string, mode: number, owner: FileOwner | undefined): Promise<void> {
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, content, { mode });
  if (owner) await chown(partial, owner.uid, owner.gid);
  await rename(partial, file);
}

/** The key first: a server reloading between the two renames then fails to load a mismatched pair and keeps its old one. */
export async function writeCertificateFiles(
  dir: string,
  files: { chain: string; privateKey?: string; trustBundle: string },
  owner: FileOwner | undefined,
): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const written: string[] = [];
  if (files.privateKey !== undefined) {
    await writeWhole(path.join(dir, KEY_FILE), files.privateKey, 0o600, owner);
    await writeWhole(path.join(dir, CERTIFICATE_FILE), files.chain, 0o644, owner);
    written.push(KEY_FILE, CERTIFICATE_FILE);
  }
  await writeWhole(path.join(dir, BUNDLE_FILE), files.trustBundle, 0o644, owner);
  written.push(BUNDLE_FILE);
  return written.map((name) => path.join(dir, name));
}

export function parseOwner(text: string): FileOwner | undefined {
  const match = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!match) return undefined;
  return { uid: Number(match[1]), gid: Number(match[2] ?? match[1]) };
}
