/**
 * The block `npm start` prints last, once every process is healthy: where everything is and the
 * first commands to try, with this start's real ports and paths, set apart by rules so it does not
 * drown among the start-up lines above it.
 */
import path from 'node:path';

export interface StartSummary {
  /** `[name, value]` rows: each process's URL, the databases, the admin client. */
  rows: readonly (readonly [string, string])[];
  adminUrl: string;
  adminClientId: string;
  /** The admin client's secret file; undefined when `npm start` was given the secret as a value. */
  adminSecretFile: string | undefined;
  /** The log directory when the processes' output goes to files; undefined when it is shown live. */
  logDir: string | undefined;
  settingsFile: string;
  /** With TLS on (ARTSTORE_TLS=1): the trust bundle a client gives curl as --cacert. */
  caFile?: string;
  /** Set when the data directory is not the default one: every command then needs ARTSTORE_DATA_DIR too. */
  customDataDir: string | undefined;
}

const RULE = '─'.repeat(78);

export function formatStartSummary(summary: StartSummary): string {
  const row = (name: string, value: string) => `  ${name.padEnd(24)} ${value}`;
  const withDataDir = summary.customDataDir ? `ARTSTORE_DATA_DIR=${shellWord(summary.customDataDir)} ` : '';
  const secret = summary.adminSecretFile ? `$(cat ${shellWord(shown(summary.adminSecretFile))})` : '$ADMIN_BOOTSTRAP_CLIENT_SECRET';
  const cacert = summary.caFile ? ` --cacert ${shellWord(shown(summary.caFile))}` : '';
  const rows = [
    ...summary.rows.map(([name, value]) => row(name, value)),
    ...(summary.caFile ? [row('trust bundle', `${shown(summary.caFile)} (TLS 1.3 on every port; curl --cacert, README "First requests")`)] : []),
    row('Bull Board', `${summary.adminUrl}/admin/login`),
    row(
      'logs',
      summary.logDir ? `${shown(summary.logDir)}${path.sep} (one file per process; \`npm start -- --logs\` shows them here)` : 'shown above, live (--logs)',
    ),
  ];
  return [
    '',
    RULE,
    `  ArtStore is running (development${summary.caFile ? ', TLS on' : ''})`,
    RULE,
    ...rows,
    '',
    '  First commands (in another terminal, in this directory):',
    `    curl -s${cacert} -X POST ${summary.adminUrl}/api/v1/auth/token -H 'Content-Type: application/json' \\`,
    `      -d "{\\"client_id\\":\\"${summary.adminClientId}\\",\\"client_secret\\":\\"${secret}\\"}"`,
    `    ${withDataDir}npm run audit:verify`,
    `    ${withDataDir}npm run keys:rotate`,
    `  The npm run commands read their settings from ${shown(summary.settingsFile)}.`,
    '  README.md, "First requests": upload, find and download a file.',
    '',
    '  Ctrl-C stops everything.',
    RULE,
    '',
  ].join('\n');
}

/** A path as short as it can be shown: relative when it is under the working directory. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** A word bash reads back as `text`. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
