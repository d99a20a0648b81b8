import { runMain } from '../platform/runtime.ts';
import { start } from './app.ts';

await runMain('query', start);
