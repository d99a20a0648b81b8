/**
 * The environment a command line (`npm run keys:rotate`, `audit:verify`, …) runs with. In development
 * the settings `npm start` left in its data directory (dev-settings.json) fill in whatever the
 * environment does not set, so a command works right after `npm start` with nothing exported; the
 * environment always wins. Production, staging and test never read them: there a command runs on
 * exactly what it is given.
 */
import { type ConfigError, SECRET_NAMES, type Env } from '../../services/platform/config/index.ts';
import { dataDirOf, developmentSettingsFile, readDevelopmentSettings } from '../dev/development-settings.ts';

export interface CliEnvironment {
  /** The process environment with the development settings under it. */
  env: Env;
  /** Where `npm start` keeps the settings for this data directory (read or not). */
  settingsFile: string;
  /** When the settings were read: when `npm start` wrote them. */
  settingsWrittenAt?: string;
  /** The variables that came from the settings file. */
  fromSettings: readonly string[];
  /** Secrets `npm start` was given as values, which the settings cannot hold. */
  notRecorded: readonly string[];
  /** The ENVIRONMENT that kept the settings away, when it did. */
  refusedFor?: string;
}

/**
 * Environments in which development settings may be used. Any other value keeps them away: production
 * and staging run on exactly what they are given, a test run stays hermetic, and a typo fails safe.
 */
const DEVELOPMENT_ENVIRONMENTS = ['', 'development'];

/**
 * Variables that say the same thing: when the environment gives any of a group, the settings give
 * none of it, so DATABASE_URL in the environment never meets DATABASE_URL_FILE from the settings
 * (which stops start-up) and a client id never pairs with another client's secret.
 */
const SAME_SETTING: readonly (readonly string[])[] = [
  ['DATABASE_URL', 'POSTGRES_HOST'],
  // A cluster's nodes beside the settings' REDIS_URL would stop start-up too.
  ['REDIS_URL', 'REDIS_HOST', 'REDIS_CLUSTER_NODES'],
  ['ADMIN_BOOTSTRAP_CLIENT_ID', 'ADMIN_BOOTSTRAP_CLIENT_SECRET'],
  ['STORAGE_CLIENT_ID', 'STORAGE_CLIENT_SECRET'],
];

const isSecret = (name: string) => (SECRET_NAMES as readonly string[]).includes(name);

function sameSettingAs(variable: string): string[] {
  const stem = variable.endsWith('_FILE') && isSecret(variable.slice(0, -5)) ? variable.slice(0, -5) : variable;
  const group = SAME_SETTING.find((names) => names.includes(stem)) ?? [stem];
  return group.flatMap((name) => (isSecret(name) ? [name, `${name}_FILE`] : [name]));
}

/**
 * The environment for command `name`, and a line on stderr (`note`) naming the settings file when
 * it was used. A settings file that cannot be read is an error naming it.
 */
export function cliEnvironment(
  name: string,
  env: Env = process.env,
  note: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): CliEnvironment {
  const settingsFile = developmentSettingsFile(dataDirOf(env));
  const environment = (env.ENVIRONMENT ?? '').trim();
  if (!DEVELOPMENT_ENVIRONMENTS.includes(environment)) {
    return { env, settingsFile, fromSettings: [], notRecorded: [], refusedFor: environment };
  }
  const settings = readDevelopmentSettings(settingsFile);
  if (!settings) return { env, settingsFile, fromSettings: [], notRecorded: [] };

  const merged: Record<string, string | undefined> = { ...env };
  const fromSettings: string[] = [];
  for (const [variable, value] of Object.entries(settings.variables)) {
    if (sameSettingAs(variable).some((given) => env[given] !== undefined && env[given] !== '')) continue;
    merged[variable] = value;
    fromSettings.push(variable);
  }
  if (fromSettings.length > 0) {
    const count = fromSettings.length === 1 ? '1 variable' : `${fromSettings.length} variables`;
    note(`${name}: using the settings \`npm start\` left in ${settingsFile} (${count} the environment does not set; it overrides any of them)`);
  }
  return { env: merged, settingsFile, settingsWrittenAt: settings.written_at, fromSettings, notRecorded: settings.not_recorded };
}

/** True when `variable` (or its _FILE form) came from the development settings. */
export function cameFromSettings(cli: CliEnvironment, variable: string): boolean {
  return cli.fromSettings.includes(variable) || cli.fromSettings.includes(`${variable}_FILE`);
}

/** A configuration error's list of problems, followed by how to fix them from where this command stands. */
export function explainConfigError(cli: CliEnvironment, error: ConfigError): string {
  const named = error.problems.map((problem) => problem.variable.replace(/_FILE$/, '').replace(/ \(.*$/, ''));
  if (cli.refusedFor !== undefined) {
    return (
      `${error.message}\nWith ENVIRONMENT=${cli.refusedFor} the development settings of \`npm start\` are never used: ` +
      'set each variable named above (a secret as NAME or NAME_FILE).'
    );
  }
  if (cli.settingsWrittenAt === undefined) {
    return (
      `${error.message}\nSet the variables named above (README.md, "Configuration"), or run \`npm start\` first: ` +
      `in development it leaves its settings in ${cli.settingsFile}, and every npm run command uses them.`
    );
  }
  const inline = cli.notRecorded.filter((secret) => named.includes(secret));
  return [
    error.message,
    ...(inline.length ? [`\`npm start\` was given ${inline.join(', ')} as a value, which it does not record: give it to this command too.`] : []),
    `The development settings in ${cli.settingsFile} (npm start, ${cli.settingsWrittenAt}) were used; ` +
      'run `npm start` again to refresh them, or set the variables named above.',
  ].join('\n');
}
