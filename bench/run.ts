/**
 * `npm run bench [name…]`: runs every bench/*.bench.ts (or those whose file name contains one of
 * the given names) against real PostgreSQL and Redis — DATABASE_URL / REDIS_URL when set, else the
 * embedded servers — prints each table, and writes bench/RESULTS.md. Builds dist/ first: the
 * modules under test run as compiled JavaScript, as in production.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import path from 'node:path';
import { setUpInfra, tearDownInfra, type TestInfra } from '../test/support/infra.ts';
import { formatFigures, machineLine, type Benchmark } from './report.ts';

const benchDir = import.meta.dirname;
const wanted = process.argv.slice(2);
const files = (await readdir(benchDir))
  .filter((file) => file.endsWith('.bench.ts') && (wanted.length === 0 || wanted.some((name) => file.includes(name))))
  .sort();

/** The versions the figures depend on: servers asked live, libraries from the installed packages. */
async function versionsLine(infra: TestInfra): Promise<string> {
  const client = new pg.Client({ connectionString: infra.databaseUrl });
  await client.connect();
  const postgres = ((await client.query('SHOW server_version')).rows[0] as { server_version: string }).server_version;
  await client.end();
  const redis = new Redis(infra.redisUrl);
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  redis.disconnect();
  const libraries = await Promise.all(
    ['bullmq', 'ioredis', 'express', '@prisma/client', 'jose', 'prom-client', 'pino'].map(async (name) => {
      const manifest = JSON.parse(await readFile(path.join(benchDir, '..', 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
      return `${name} ${manifest.version}`;
    }),
  );
  return `PostgreSQL ${postgres}, Redis ${redisVersion}, ${libraries.join(', ')}`;
}

// The modules run as production runs them: the JavaScript of `npm run build`, built fresh here.
execFileSync('npm', ['run', '--silent', 'build'], { cwd: path.join(benchDir, '..'), stdio: 'inherit' });

/**
 * Each benchmark starts from a quiet disk: what the one before left for PostgreSQL and the kernel
 * to write (150,000 audit rows, their WAL) would otherwise be written inside the next one's timings,
 * and so would the autovacuum those rows call for (vacuumed here, it has nothing left to do).
 */
async function quietDisk(infra: TestInfra): Promise<void> {
  const client = new pg.Client({ connectionString: infra.databaseUrl });
  await client.connect();
  await client.query('VACUUM (ANALYZE)');
  await client.query('CHECKPOINT');
  await client.end();
  execFileSync('sync');
}

const sections: string[] = [];
const infra = await setUpInfra(process.env);
const versions = await versionsLine(infra);
try {
  for (const file of files) {
    const benchmark = (await import(path.join(benchDir, file))).default as Benchmark;
    process.stdout.write(`\n## ${benchmark.title} (${file})\n`);
    await quietDisk(infra);
    const table = formatFigures(await benchmark.run());
    process.stdout.write(`${table}\n`);
    sections.push(`## ${benchmark.title}\n\n\`npm run bench ${file.replace('.bench.ts', '')}\`\n\n${table}\n`);
  }
} finally {
  await tearDownInfra();
}

const header = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench\` on ${new Date().toISOString()}.`,
  `Machine: ${machineLine()}.`,
  `Versions: ${versions}.`,
  'Every ratio compares two figures measured in the same run; targets are for this machine.',
  '',
].join('\n');
if (wanted.length === 0) await writeFile(path.join(benchDir, 'RESULTS.md'), `${header}\n${sections.join('\n')}`);
process.exit(0);
