/**
 * `npm run bench [name…]`: runs every bench/*.bench.ts (or those whose file name contains one of
 * the given names) against real PostgreSQL and Redis — DATABASE_URL / REDIS_URL when set, else the
 * embedded servers — prints each table, and writes bench/RESULTS.md.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setUpInfra, tearDownInfra } from '../test/support/infra.ts';
import { formatFigures, machineLine, type Benchmark } from './report.ts';

const benchDir = import.meta.dirname;
const wanted = process.argv.slice(2);
const files = (await readdir(benchDir))
  .filter((file) => file.endsWith('.bench.ts') && (wanted.length === 0 || wanted.some((name) => file.includes(name))))
  .sort();

const sections: string[] = [];
await setUpInfra(process.env);
try {
  for (const file of files) {
    const benchmark = (await import(path.join(benchDir, file))).default as Benchmark;
    process.stdout.write(`\n## ${benchmark.title} (${file})\n`);
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
  'Every ratio compares two figures measured in the same run; targets are for this machine.',
  '',
].join('\n');
if (wanted.length === 0) await writeFile(path.join(benchDir, 'RESULTS.md'), `${header}\n${sections.join('\n')}`);
process.exit(0);
