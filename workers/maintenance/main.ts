import { runMain } from '../../services/platform/runtime.ts';
import { start } from './worker.ts';

await runMain('maintenance', start);
