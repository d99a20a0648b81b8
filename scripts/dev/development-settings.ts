/**
 * What `npm start` leaves behind for the command lines (`npm run keys:rotate`, `audit:verify`, …):
 * the settings it gave its processes, as variables, in `<data directory>/dev-settings.json`.
 * Only file paths, URLs without a password and names are written; a secret is always a `NAME_FILE`
 * path, never its value.
 */
import { readFileSync } from 'node:fs';
import { chmod, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CommandLineError } from '../cli/command-line-error.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const FILE_NAME = 'dev-settings.json';

export interface DevelopmentSettings {
  written_by: string;
  written_at: string;
  /** Variables as the processes got them, e.g. `DATABASE_URL_FILE`, `REDIS_URL`, `ADMIN_URL`. */
  variables: Record<string, string>;
  /** Secrets `npm start` was given as values in its environment: not recorded, so a command needs them from its own. */
  not_recorded: string[];
}

/** The launcher's data directory: ARTSTORE_DATA_DIR, else `<repository>/.data` wherever the command runs from. */
export function dataDirOf(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.ARTSTORE_DATA_DIR || path.join(repoRoot, '.data'));
}

export function developmentSettingsFile(dataDir: string): string {
  return path.join(dataDir, FILE_NAME);
}

/** Written whole (a temporary file renamed into place), mode 0600, so a command never reads half of it. */
export async function writeDevelopmentSettings(dataDir: string, settings: Omit<DevelopmentSettings, 'written_by' | 'written_at'>): Promise<string> {
  const file = developmentSettingsFile(dataDir);
  const content: DevelopmentSettings = { written_by: 'npm start (scripts/dev.ts)', written_at: new Date().toISOString(), ...settings };
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
  return file;
}

/** The settings in `file`, or undefined when there is none; a file that is not ours throws, naming it. */
export function readDevelopmentSettings(file: string): DevelopmentSettings | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CommandLineError(`cannot read the development settings ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  let parsed: Partial<DevelopmentSettings>;
  try {
    parsed = JSON.parse(text) as Partial<DevelopmentSettings>;
  } catch {
    throw new CommandLineError(`the development settings ${file} are not JSON; run \`npm start\` again to rewrite them`);
  }
  const variables = parsed.variables ?? {};
  if (typeof variables !== 'object' || Object.values(variables).some((value) => typeof value !== 'string')) {
    throw new CommandLineError(`the development settings ${file} hold no "variables" object of strings; run \`npm start\` again to rewrite them`);
  }
  return {
    written_by: String(parsed.written_by ?? ''),
    written_at: String(parsed.written_at ?? ''),
    variables,
    not_recorded: Array.isArray(parsed.not_recorded) ? parsed.not_recorded.map(String) : [],
  };
}
