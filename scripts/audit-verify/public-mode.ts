/**
 * `npm run audit:verify -- --public --digests DIR --keys FILE|URL [--since-digest FILE]`: what an
 * outside auditor runs. Needs the database URL and nothing secret: the digest files kept outside
 * the database and the published digest keys (`/.well-known/audit-keys.json`, saved or fetched).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AuditDigest } from '../../services/audit-log/digests/digest-format.ts';
import type { PublishedDigestKey } from '../../services/audit-log/digests/digest-verification.ts';
import { verifyAuditLogPublicly, type PublicReport } from '../../services/audit-log/public-verification.ts';
import { loadDatabaseUrl, type Env } from '../../services/platform/config/index.ts';

export class UsageError extends Error {}

async function readText(what: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

/** Every line of every `<dir>/<chain>/digests-*.ndjson` file, in file order; lines that are not JSON are passed over. */
export async function readDigestDirectory(dir: string): Promise<AuditDigest[]> {
  const chains = await readdir(dir, { withFileTypes: true }).catch(() => {
    throw new UsageError(`cannot read the digest directory ${dir}`);
  });
  const digests: AuditDigest[] = [];
  for (const chain of chains.filter((entry) => entry.isDirectory() && /^\d+$/.test(entry.name)).sort((a, b) => Number(a.name) - Number(b.name))) {
    const files = (await readdir(path.join(dir, chain.name))).filter((name) => /^digests-\d{8}T\d{2}\.ndjson$/.test(name)).sort();
    for (const file of files) {
      for (const line of (await readText('digest file', path.join(dir, chain.name, file))).split('\n')) {
        if (!line.trim()) continue;
        try {
          digests.push(JSON.parse(line) as AuditDigest);
        } catch {
          // A line a crash cut short; the digest it would have held is in the table and the next file.
        }
      }
    }
  }
  return digests;
}

async function readKeys(source: string): Promise<PublishedDigestKey[]> {
  let text: string;
  if (/^https?:\/\//.test(source)) {
    const answer = await fetch(source).catch((err: Error) => {
      throw new UsageError(`cannot fetch ${source} (${err.message})`);
    });
    if (!answer.ok) throw new UsageError(`${source} answered ${answer.status}`);
    text = await answer.text();
  } else text = await readText('key file', source);
  const keys = (JSON.parse(text) as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new UsageError(`${source} is not a JWKS ({"keys":[…]})`);
  return keys as PublishedDigestKey[];
}

export async function verifyPublicMode(
  env: Env,
  options: { digests?: string; keys?: string; sinceDigest?: string; chainIds?: number[]; onProgress?: (p: { chain_id: number; checked: number }) => void },
): Promise<PublicReport> {
  if (!options.digests) throw new UsageError('--public needs --digests DIR (the digest files kept outside the database)');
  if (!options.keys) throw new UsageError('--public needs --keys FILE or URL (the published /.well-known/audit-keys.json)');
  const [digests, keys] = await Promise.all([readDigestDirectory(options.digests), readKeys(options.keys)]);
  const sinceDigest = options.sinceDigest
    ? ((JSON.parse((await readText('saved digest', options.sinceDigest)).trim().split('\n').at(-1) ?? 'null') as AuditDigest | null) ?? undefined)
    : undefined;
  if (options.sinceDigest && !sinceDigest) throw new UsageError(`${options.sinceDigest} holds no digest`);
  return verifyAuditLogPublicly(loadDatabaseUrl(env).reveal(), digests, keys, { sinceDigest, chainIds: options.chainIds, onProgress: options.onProgress });
}
