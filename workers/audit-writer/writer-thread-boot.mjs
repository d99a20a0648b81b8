// Entry of the audit writer thread. Loader hooks are per thread and Node 20 does not run
// `--import` in workers, so the thread registers tsx itself before loading its TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./writer-thread.ts');
