import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, loadRedis } from '../../services/platform/config/index.ts';
import { writeDevelopmentSettings } from '../dev/development-settings.ts';
import { cliEnvironment, explainConfigError } from './cli-environment.ts';
import { CommandLineError } from './command-line-error.ts';

describe('command-line environment (development settings from npm start)', () => {
  let dataDir: string;
  let notes: string[];
  const note = (line: string) => notes.push(line);
  const settings = () => ({
    DATABASE_URL_FILE: path.join(dataDir, 'secrets', 'database_url'),
    REDIS_URL: 'redis://127.0.0.1:63799/0',
    ADMIN_URL: 'http://127.0.0.1:8000',
    ADMIN_BOOTSTRAP_CLIENT_ID: 'admin-service',
    ADMIN_BOOTSTRAP_CLIENT_SECRET_FILE: path.join(dataDir, 'secrets', 'admin_bootstrap_client_secret'),
  });

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'cli-environment-'));
    notes = [];
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('when the environment sets nothing, then every setting comes from the file and a note on stderr names it', async () => {
    await writeDevelopmentSettings(dataDir, { variables: settings(), not_recorded: [] });
    const cli = cliEnvironment('keys:rotate', { ARTSTORE_DATA_DIR: dataDir }, note);
    assert.deepEqual(cli.fromSettings, Object.keys(settings()));
    assert.equal(cli.env.REDIS_URL, 'redis://127.0.0.1:63799/0');
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, new RegExp(`^keys:rotate: using the settings \`npm start\` left in ${path.join(dataDir, 'dev-settings.json')}`));
  });

  it('when the environment gives a setting in any of its forms, then the file gives none of that setting', async () => {
    await writeDevelopmentSettings(dataDir, { variables: settings(), not_recorded: [] });
    const cli = cliEnvironment(
      'keys:rotate',
      {
        ARTSTORE_DATA_DIR: dataDir,
        DATABASE_URL: 'postgresql://me@db/x',
        REDIS_HOST: 'cache',
        ADMIN_BOOTSTRAP_CLIENT_ID: 'mine',
        ADMIN_URL: 'http://admin:8000',
      },
      note,
    );
    // DATABASE_URL beside DATABASE_URL_FILE would stop start-up; a client id must not pair with another's secret.
    assert.deepEqual(cli.fromSettings, []);
    assert.equal(cli.env.DATABASE_URL_FILE, undefined);
    assert.equal(cli.env.ADMIN_BOOTSTRAP_CLIENT_SECRET_FILE, undefined);
    assert.equal(cli.env.ADMIN_URL, 'http://admin:8000');
    assert.deepEqual(notes, []);
  });

  it('when the environment names a Redis Cluster, then the file gives no REDIS_URL beside it and Redis is that cluster', async () => {
    await writeDevelopmentSettings(dataDir, { variables: settings(), not_recorded: [] });
    const cli = cliEnvironment('keys:rotate', { ARTSTORE_DATA_DIR: dataDir, REDIS_CLUSTER_NODES: 'redis-1:6379,redis-2:6379' }, note);
    assert.equal(cli.env.REDIS_URL, undefined);
    assert.ok(!cli.fromSettings.includes('REDIS_URL'));
    assert.equal(loadRedis(cli.env).mode, 'cluster');
  });

  it('when ENVIRONMENT is production, staging, test or unknown, then the file is never read', async () => {
    await writeDevelopmentSettings(dataDir, { variables: settings(), not_recorded: [] });
    for (const environment of ['production', 'staging', 'test', 'prod']) {
      const cli = cliEnvironment('keys:rotate', { ARTSTORE_DATA_DIR: dataDir, ENVIRONMENT: environment }, note);
      assert.deepEqual(cli.fromSettings, [], environment);
      assert.equal(cli.refusedFor, environment);
      const error = configErrorOf(cli.env);
      assert.match(explainConfigError(cli, error), new RegExp(`With ENVIRONMENT=${environment} the development settings of \`npm start\` are never used`));
    }
    assert.deepEqual(notes, []);
  });

  it('when npm start never ran, then a configuration error lists every problem and says to set them or run npm start, naming the file', () => {
    const cli = cliEnvironment('keys:rotate', { ARTSTORE_DATA_DIR: dataDir }, note);
    const explained = explainConfigError(cli, configErrorOf(cli.env));
    assert.match(explained, /^\d+ configuration problems:\n {2}DATABASE_URL: /);
    assert.match(explained, /JWT_KEY_ENCRYPTION_KEY: is required by maintenance/);
    assert.ok(explained.includes(`run \`npm start\` first: in development it leaves its settings in ${path.join(dataDir, 'dev-settings.json')}`));
  });

  it('when npm start was given a secret as a value, then the error says this command needs it too', async () => {
    const { DATABASE_URL_FILE: _, ...rest } = settings();
    await writeDevelopmentSettings(dataDir, { variables: rest, not_recorded: ['DATABASE_URL'] });
    const cli = cliEnvironment('keys:rotate', { ARTSTORE_DATA_DIR: dataDir }, note);
    assert.match(
      explainConfigError(cli, configErrorOf(cli.env)),
      /`npm start` was given DATABASE_URL as a value, which it does not record: give it to this command too/,
    );
  });

  it('when the settings file is not JSON, then the command stops naming it', async () => {
    await writeFile(path.join(dataDir, 'dev-settings.json'), '{ half');
    assert.throws(
      () => cliEnvironment('keys:rotate', { ARTSTORE_DATA_DIR: dataDir }, note),
      (err: Error) => err instanceof CommandLineError && err.message.includes(path.join(dataDir, 'dev-settings.json')),
    );
  });
});

function configErrorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig('maintenance', env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the configuration was valid');
}
