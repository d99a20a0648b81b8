import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const dockerDir = path.join(repoRoot, 'docker');

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  env_file?: ({ path: string; required?: boolean } | string)[];
  secrets?: (string | { source: string; target?: string })[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[]; interval?: string };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  restart?: string;
  user?: string;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string; external?: boolean }>;
  volumes?: Record<string, unknown>;
}

/** A compose file as Compose reads it: anchors resolved and `<<` merge keys applied. */
export function loadCompose(file: string): ComposeFile {
  return parse(readFileSync(path.join(dockerDir, file), 'utf8'), { merge: true }) as ComposeFile;
}

export function loadYaml<T>(file: string): T {
  return parse(readFileSync(path.join(repoRoot, file), 'utf8')) as T;
}

/** Compose interpolation with no variables set: `${VAR:-default}` becomes the default, `$$` a `$`. */
export function interpolate(value: string): string {
  return value
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_all, _name: string, fallback: string | undefined) => fallback ?? '')
    .replace(/\$\$/g, '$');
}

/** The services that run ArtStore code, with the entry each one starts. */
export const APP_SERVICES = ['admin', 'storage-element', 'ingester', 'query', 'audit-writer', 'maintenance'] as const;
export type AppService = (typeof APP_SERVICES)[number];

/** Names of secret files a service mounts (short and long syntax). */
export function mountedSecrets(service: ComposeService): string[] {
  return (service.secrets ?? []).map((s) => (typeof s === 'string' ? s : (s.target ?? s.source)));
}

/** `KEY=VALUE` lines of a dotenv file, surrounding quotes removed. */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    values[match[1]!] = match[2]!.replace(/^"(.*)"$|^'(.*)'$/, '$1$2');
  }
  return values;
}

/** Stages of a Dockerfile (`FROM … AS name`) with their instructions, continuation lines joined. */
export function dockerfileStages(file = path.join(dockerDir, 'Dockerfile')): Map<string, string[]> {
  const lines = readFileSync(file, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = [line];
      if (from[2]) stages.set(from[2], current);
      continue;
    }
    current?.push(line);
  }
  return stages;
}

/** The promtool binary; the deploy checks need it (`apt-get install prometheus`, done by .ci/run). */
export function promtool(args: string[], input?: string) {
  const result = spawnSync('promtool', args, { cwd: repoRoot, input, encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('promtool is not installed: apt-get install -y --no-install-recommends prometheus (see .ci/run)');
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
