/**
 * The audit writer as its own process with short job locks, for tests that kill it with SIGKILL
 * and need its jobs back quickly.
 */
import { loadConfig } from '../../services/platform/config/index.ts';
import { start } from '../../workers/audit-writer/worker.ts';

await start(loadConfig('audit-writer', process.env), { workerOptions: { lockDuration: 1000, stalledInterval: 500 } });
