/**
 * What every maintenance command line shares: the maintenance worker's configuration (in
 * development completed from what `npm start` left, scripts/cli/cli-environment.ts), logs on
 * stderr so stdout holds only the result, an audit publisher of source `cli` with its own spool
 * file (a line left there is replayed by the next run of a command), and an exit code of 1 naming
 * the problem and how to fix it. Under AUDIT_DELIVERY=fail-closed an action is refused while the
 * audit queue is unreachable.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { PrismaClient } from '../../services/platform/db/client.ts';
import { createAuditPublisher, type AuditPublisher } from '../../services/audit-log/publisher.ts';
import { ConfigError, loadConfig, type Config, type ServiceName } from '../../services/platform/config/index.ts';
import { AppError } from '../../services/platform/errors.ts';
import { createPrismaClient } from '../../services/platform/db/client.ts';
import { createLogger, type Logger } from '../../services/platform/logger.ts';
import { createRedis, type RedisClient } from '../../services/platform/redis.ts';
import { cliEnvironment, explainConfigError, type CliEnvironment } from './cli-environment.ts';
import { fieldLines, outputModeOf, printResult } from './cli-output.ts';
import { CommandLineError } from './command-line-error.ts';
import { assertDatabaseAnswers, awaitRedis } from './connection-check.ts';

export interface CliContext {
  config: Config;
  logger: Logger;
  prisma: PrismaClient;
  redis: RedisClient;
  audit: AuditPublisher;
}

export interface CliCommand<T, O extends NonNullable<ParseArgsConfig['options']> = Record<never, never>> {
  /** The npm script, for messages: `keys:rotate`. */
  name: string;
  /** The first line of the result on a terminal: "JWT signing keys rotated". */
  title: string;
  /**
   * The process whose configuration rules the command's is checked by (which keys it must be given).
   * @defaultValue 'maintenance': the keys' and the audit log's commands need what the worker needs
   */
  configAs?: ServiceName;
  /** The command's own flags besides --json (node:util parseArgs options). */
  options?: O;
  /** Checks the flags before anything connects; throws a CommandLineError naming what is wrong. */
  checkFlags?: (flags: ParsedFlags<O>) => void;
  action: (ctx: CliContext, flags: ParsedFlags<O>) => Promise<T>;
  /** The result as printed, in the API's snake_case. */
  answer: (result: T) => Record<string, unknown>;
}

/** The values of a command's own flags as parseArgs gives them. */
export type ParsedFlags<O extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values'];

/** Runs the command: `--json` prints its answer as one JSON line, otherwise as README.md describes (scripts/cli/cli-output.ts). */
export async function runAuditedCli<T, O extends NonNullable<ParseArgsConfig['options']> = Record<never, never>>(command: CliCommand<T, O>): Promise<void> {
  const { name } = command;
  let cli: CliEnvironment | undefined;
  try {
    const { values } = parseArgs({ options: { ...command.options, json: { type: 'boolean' } }, strict: true });
    const flags = values as ParsedFlags<O>;
    command.checkFlags?.(flags);
    cli = cliEnvironment(name);
    const config = loadConfig(command.configAs ?? 'maintenance', cli.env);
    await assertDatabaseAnswers(cli, config.databaseUrl.reveal());
    const logger = createLogger({ service: name.replaceAll(':', '-'), level: config.logLevel }, process.stderr);
    const prisma = createPrismaClient(config.databaseUrl.reveal());
    const redis = createRedis(config.redis, 'producer', logger, name, { caFile: config.tls.caFile });
    let audit: AuditPublisher | undefined;
    try {
      await awaitRedis(cli, redis, config.redis, (err) => logger.warn({ err: err.message }, 'redis unreachable: running processes hear of the change later'));
      audit = await createAuditPublisher({
        redis,
        bullmqPrefix: config.bullmqPrefix,
        source: 'cli',
        delivery: config.audit.delivery,
        spoolDir: config.audit.spoolDir,
        logger,
      });
      const answer = command.answer(await command.action({ config, logger, prisma, redis, audit }, flags));
      printResult(answer, outputModeOf(values.json as boolean | undefined), () => [command.title, ...fieldLines(answer)]);
    } finally {
      await audit?.close();
      redis.disconnect();
      await prisma.$disconnect();
    }
  } catch (error) {
    const known = error instanceof AppError || error instanceof CommandLineError || String((error as { code?: string }).code).startsWith('ERR_PARSE_ARGS');
    const message =
      error instanceof ConfigError && cli ? explainConfigError(cli, error) : known ? (error as Error).message : ((error as Error).stack ?? String(error));
    process.stderr.write(`${name}: ${message}\n`);
    process.exitCode = 1;
  }
}
