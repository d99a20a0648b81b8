import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux Node runs on). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): Promise<number> {
  return cpuSecondsOfStat(`/proc/${pid}/stat`);
}

async function cpuSecondsOfStat(file: string): Promise<number> {
  const stat = await readFile(file, 'utf8');
  // The command name (field 2) may hold spaces: the fields after it follow its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds of several processes, read together. */
export async function cpuSecondsOfAll<K extends string>(pids: Record<K, number>): Promise<Record<K, number>> {
  const entries = await Promise.all(Object.entries<number>(pids).map(async ([name, pid]) => [name, await cpuSecondsOf(pid)] as const));
  return Object.fromEntries(entries) as Record<K, number>;
}

/** CPU seconds of a process's main thread alone (its event loop; thread pool and GC threads excluded). */
export function mainThreadCpuSecondsOf(pid: number): Promise<number> {
  return cpuSecondsOfStat(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * CPU seconds the whole machine has been busy so far, all cores together, from /proc/stat: every
 * process's work (PostgreSQL, Redis, whatever else runs) and the time a hypervisor took (steal).
 */
export async function machineBusySeconds(): Promise<number> {
  const fields = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: all but idle and iowait is busy.
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / TICKS_PER_SECOND;
}

/**
 * With BENCH_CPU_PROFILE_DIR set, the options that make a child process (startChildService) write a
 * V8 CPU profile there when it stops (`node --cpu-prof`): <dir>/<name>/*.cpuprofile, one per thread.
 * V8's profiles sample wall time, so on a busy machine a thread that waits for a core shows as busy
 * in whatever it was doing. With BENCH_PERF_MAP=1 instead, the child writes /tmp/perf-<pid>.map
 * (`node --perf-basic-prof`), so a system-wide `perf record -e cpu-clock -a -g` names its JavaScript
 * frames: on-CPU time only, the kernel's, PostgreSQL's and Redis's included (docs/KEY_ROTATION.md).
 */
export function cpuProfiled(name: string): { nodeArgs?: string[] } {
  const dir = process.env.BENCH_CPU_PROFILE_DIR;
  if (dir) return { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(dir, name)}`] };
  return process.env.BENCH_PERF_MAP === '1' ? { nodeArgs: ['--perf-basic-prof'] } : {};
}
