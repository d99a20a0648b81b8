import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The street plan, checked on every run: a deployable (one module or worker) is never a library,
 * platform is infrastructure only, and running code never reaches into tests, benchmarks or scripts.
 * A new import that breaks a rule fails here with the file and the import named.
 */
const root = path.resolve(import.meta.dirname, '..');
const DEPLOYABLES = ['services/admin', 'services/storage-element', 'services/ingester', 'services/query', 'workers/audit-writer', 'workers/maintenance'];
const DOMAIN_LIBRARIES = ['services/audit-log', 'services/signing-keys', 'services/file-archive'];
/** What tests and benchmarks may start in-process: a deployable's `start(config)`. */
const START_ENTRIES = new Set(['app.ts', 'worker.ts']);
/**
 * Every process publishes audit events, so the runtime that builds a process wires the publisher;
 * the queue contract names the audit event as the payload of `record-audit-event` (a type only).
 */
const PLATFORM_MAY_IMPORT = new Set(['services/audit-log/publisher.ts', 'services/audit-log/request-events.ts', 'services/audit-log/events.ts']);

const under = (file: string, folder: string) => file === folder || file.startsWith(`${folder}/`);

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mjs)$/.test(entry.name) && !entry.parentPath.includes('/generated'))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));
}

/** Relative imports (static, dynamic and type-only) as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((match) => match[1]!);
  return specifiers.map((specifier) => path.relative(root, path.resolve(path.dirname(path.join(root, file)), specifier)));
}

interface Violation {
  file: string;
  imports: string;
  rule: string;
}

function layoutViolations(files: string[], resolveImports: (file: string) => string[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const isTestOrBench = /\.test\.ts$/.test(file) || under(file, 'test') || under(file, 'bench');
    for (const target of resolveImports(file)) {
      const owner = DEPLOYABLES.find((folder) => under(target, folder));
      if (owner && !under(file, owner) && !(isTestOrBench && START_ENTRIES.has(path.relative(owner, target)))) {
        violations.push({ file, imports: target, rule: `nothing outside ${owner} imports from it (tests may start its app.ts/worker.ts)` });
      }
      if (under(file, 'services/platform') && !isTestOrBench && DOMAIN_LIBRARIES.some((lib) => under(target, lib)) && !PLATFORM_MAY_IMPORT.has(target)) {
        violations.push({ file, imports: target, rule: 'platform holds infrastructure only and does not depend on a domain library' });
      }
      if ((under(file, 'services') || under(file, 'workers')) && !isTestOrBench && ['test', 'bench', 'scripts'].some((folder) => under(target, folder))) {
        violations.push({ file, imports: target, rule: 'running code does not import tests, benchmarks or scripts' });
      }
    }
  }
  return violations;
}

describe('repository layout', () => {
  const files = ['services', 'workers', 'scripts', 'test', 'bench', 'docker'].flatMap(sourceFiles);

  it('when every source file is read, then no import breaks the layout rules', () => {
    assert.ok(files.length > 100, `read ${files.length} files`);
    assert.deepEqual(layoutViolations(files, importsOf), []);
  });

  it('when a worker imports a module file or platform imports a domain library, then the check names both', () => {
    const planted: Record<string, string[]> = {
      'workers/maintenance/worker.ts': ['services/admin/identity/routes.ts'],
      'scripts/keys_rotate.ts': ['services/admin/keys/routes.ts'],
      'services/platform/runtime.ts': ['services/signing-keys/key-service.ts'],
      'services/file-archive/storage-client.ts': ['test/support/infra.ts'],
      'test/files_e2e.test.ts': ['services/ingester/app.ts', 'services/ingester/routes.ts'],
    };
    const found = layoutViolations(Object.keys(planted), (file) => planted[file]!).map((v) => `${v.file} -> ${v.imports}`);
    assert.deepEqual(found, [
      'workers/maintenance/worker.ts -> services/admin/identity/routes.ts',
      'scripts/keys_rotate.ts -> services/admin/keys/routes.ts',
      'services/platform/runtime.ts -> services/signing-keys/key-service.ts',
      'services/file-archive/storage-client.ts -> test/support/infra.ts',
      'test/files_e2e.test.ts -> services/ingester/routes.ts',
    ]);
  });
});
