/**
 * `npm run audit:verify [-- --from TIME --to TIME --checkpoint FILE… --chain N… --json]`: checks every signature
 * and link of the audit chains in the configured database (the audit writer's configuration; in
 * development, after `npm start`, what it left in dev-settings.json fills in what the environment
 * does not set) and prints the report on stdout: one JSON line with --json, a line per chain on a
 * terminal, indented JSON otherwise. Progress (records/s) and the verdict go to stderr.
 * Exit 0: intact. Exit 1: broken (the report names the first broken point and its kind).
 * Exit 2: the check could not run (bad arguments, configuration, database).
 *
 * --from / --to select records by when they were stored (recorded_at, ISO 8601).
 * --checkpoint FILE reads checkpoints kept outside the database: the writer's log lines holding
 * "audit_checkpoint" (other lines are skipped), or one JSON object per line with chain_id,
 * sequence and signature. May be given more than once.
 * --chain N checks only chain N (may be given more than once): with AUDIT_CHAINS > 1 the chains can
 * be verified by several runs at once, one a core, since a run uses one.
 *
 * --public --digests DIR --keys FILE|URL [--since-digest FILE] [--chain N…] verifies with public keys only: no
 * HMAC key, only the digest files kept outside the database and the published digest keys
 * (scripts/audit-verify/public-mode.ts). --since-digest checks that the log extends a digest saved
 * earlier (what a monitor runs).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { verifyAuditLog, type ChainCheckpoint } from '../services/audit-log/verify-chain.ts';
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import { ConfigError, loadConfig, loadDatabaseUrl } from '../services/platform/config/index.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { progressLine } from './audit-verify/progress-line.ts';
import { UsageError, verifyPublicMode } from './audit-verify/public-mode.ts';
import { cliEnvironment, explainConfigError, type CliEnvironment } from './cli/cli-environment.ts';
import { outputModeOf, printResult } from './cli/cli-output.ts';
import { CommandLineError } from './cli/command-line-error.ts';
import { assertDatabaseAnswers } from './cli/connection-check.ts';

function parseTime(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new UsageError(`--${name} must be an ISO 8601 time, got "${value}"`);
  return time;
}

function asCheckpoint(value: unknown): ChainCheckpoint | undefined {
  const candidate = (value as { audit_checkpoint?: unknown })?.audit_checkpoint ?? value;
  const { chain_id, sequence, signature, recorded_at } = (candidate ?? {}) as Record<string, unknown>;
  if (Number.isInteger(chain_id) && Number.isInteger(sequence) && typeof signature === 'string' && /^[0-9a-f]{64}$/.test(signature)) {
    const recordedAt = typeof recorded_at === 'string' && !Number.isNaN(Date.parse(recorded_at)) ? recorded_at : undefined;
    return { chain_id: chain_id as number, sequence: sequence as number, signature, recorded_at: recordedAt };
  }
  return undefined;
}

async function readCheckpoints(file: string): Promise<ChainCheckpoint[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read checkpoint file ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const checkpoints = text
    .split('\n')
    .filter((line) => line.includes('"signature"'))
    .map((line) => {
      try {
        return asCheckpoint(JSON.parse(line));
      } catch {
        return undefined;
      }
    })
    .filter((c): c is ChainCheckpoint => c !== undefined);
  if (checkpoints.length === 0) throw new UsageError(`no checkpoint found in ${file}`);
  return checkpoints;
}

/** A line per chain for a person at a terminal; the verdict follows on stderr. */
function chainLines(report: {
  chains: { chain_id: number; records_checked: number; breaks: number; first_break: { kind: string; sequence: number } | null }[];
}) {
  if (report.chains.length === 0) return ['no audit chain holds records yet'];
  return report.chains.map(
    (chain) =>
      `  chain ${String(chain.chain_id).padEnd(6)} ${chain.breaks === 0 ? 'intact' : 'BROKEN'}  ${chain.records_checked.toLocaleString('en-US')} records` +
      (chain.first_break ? `; first break: ${chain.first_break.kind} at sequence ${chain.first_break.sequence}` : ''),
  );
}

let cli: CliEnvironment | undefined;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      checkpoint: { type: 'string', multiple: true },
      public: { type: 'boolean' },
      digests: { type: 'string' },
      keys: { type: 'string' },
      'since-digest': { type: 'string' },
      chain: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const mode = outputModeOf(values.json);
  cli = cliEnvironment('audit:verify');
  const chainIds = values.chain?.map((id) => {
    if (!/^\d+$/.test(id)) throw new UsageError(`--chain must be a chain id, got "${id}"`);
    return Number(id);
  });
  if (values.public) {
    await assertDatabaseAnswers(cli, loadDatabaseUrl(cli.env).reveal());
    const progress = progressLine('audit:verify --public');
    const report = await verifyPublicMode(cli.env, {
      digests: values.digests,
      keys: values.keys,
      sinceDigest: values['since-digest'],
      chainIds,
      onProgress: progress.update,
    });
    progress.done();
    printResult(report, mode, () => chainLines(report));
    const first = report.first_break;
    const attested = report.chains.reduce((n, c) => n + c.attested_size, 0);
    process.stderr.write(
      first
        ? `audit:verify --public: BROKEN — ${report.breaks} broken point(s); first: ${first.kind} at chain ${first.chain_id} sequence ${first.sequence}: ${first.message}\n`
        : `audit:verify --public: intact — ${report.records_checked} records, ${attested} attested by signed digests, ${report.chains.length} chain(s)\n`,
    );
    return report.ok ? 0 : 1;
  }
  const config = loadConfig('audit-writer', cli.env);
  const checkpoints = (await Promise.all((values.checkpoint ?? []).map(readCheckpoints))).flat();
  await assertDatabaseAnswers(cli, config.databaseUrl.reveal());
  const prisma = createPrismaClient(config.databaseUrl.reveal());
  try {
    const progress = progressLine('audit:verify');
    const report = await verifyAuditLog(prisma, createAuditKeyRing(config.auditKeys), {
      from: parseTime('from', values.from),
      to: parseTime('to', values.to),
      checkpoints,
      retentionDays: config.audit.retentionDays,
      chainIds,
      onProgress: progress.update,
    });
    progress.done();
    printResult(report, mode, () => chainLines(report));
    const first = report.first_break;
    process.stderr.write(
      first
        ? `audit:verify: BROKEN — ${report.breaks} broken point(s); first: ${first.kind} at chain ${first.chain_id} sequence ${first.sequence}: ${first.message}\n`
        : `audit:verify: intact — ${report.records_checked} records, ${report.chains.length} chain(s), ${report.checkpoints_checked} checkpoint(s)\n`,
    );
    return report.ok ? 0 : 1;
  } finally {
    await prisma.$disconnect();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  const known = error instanceof UsageError || error instanceof CommandLineError || String((error as { code?: string }).code).startsWith('ERR_PARSE_ARGS');
  const message =
    error instanceof ConfigError
      ? cli
        ? explainConfigError(cli, error)
        : error.message
      : known
        ? (error as Error).message
        : ((error as Error).stack ?? String(error));
  process.stderr.write(`audit:verify: ${message}\n`);
  process.exitCode = 2;
}
