import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { start as startAdmin } from '../../services/admin/app.ts';
import { start as startIngester } from '../../services/ingester/app.ts';
import { start as startQuery } from '../../services/query/app.ts';
import { start as startStorageElement } from '../../services/storage-element/app.ts';
import { testConfig } from './infra.ts';

export const MODULES = {
  admin: startAdmin,
  'storage-element': startStorageElement,
  ingester: startIngester,
  query: startQuery,
} as const;
export type ModuleName = keyof typeof MODULES;

/** Starts every module in-process on a free port with this run's database and prefix. */
export async function startModules(overrides: Env = {}): Promise<Record<ModuleName, RunningService>> {
  const entries = await Promise.all(
    (Object.keys(MODULES) as ModuleName[]).map(async (name) => [name, await MODULES[name](testConfig(name, overrides))] as const),
  );
  return Object.fromEntries(entries) as Record<ModuleName, RunningService>;
}

export async function stopAll(services: Iterable<RunningService | undefined>): Promise<void> {
  await Promise.all([...services].map((s) => s?.stop()));
}

/** Reads one sample of a metric from a Prometheus text exposition. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
