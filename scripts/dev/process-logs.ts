/**
 * Where the output of the processes `npm start` runs goes: by default one log file per process under
 * `<data directory>/logs/`, so the terminal keeps only the launcher's own lines and the summary a
 * person needs; with `--logs` (or ARTSTORE_LOGS=console) everything is shown live, as one stream.
 */
import { createWriteStream, renameSync, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export const LOG_DESTINATIONS = ['files', 'console'] as const;
export type LogDestination = (typeof LOG_DESTINATIONS)[number];

/** Receives one line a process wrote, from its stdout or its stderr. */
export type LineSink = (line: string, from: 'stdout' | 'stderr') => void;

export interface ProcessLogs {
  destination: LogDestination;
  /** `<data directory>/logs` */
  dir: string;
  /**
   * The sink of one process, `name` being its file name without `.log` (`admin`, `storage-element-hot`,
   * `postgres`). On the console a line is prefixed with `consolePrefix`, except a JSON log line on
   * stdout, which carries its `service` already.
   */
  sink(name: string, consolePrefix: string): LineSink;
  /** The file a process's output goes to, when it goes to files. */
  fileOf(name: string): string | undefined;
  /** Flushes and closes the files; lines written later are dropped. */
  close(): Promise<void>;
}

export async function openProcessLogs(destination: LogDestination, dir: string): Promise<ProcessLogs> {
  const files = new Map<string, WriteStream>();
  if (destination === 'files') await mkdir(dir, { recursive: true, mode: 0o700 });
  const fileOf = (name: string) => (destination === 'files' ? path.join(dir, `${name}.log`) : undefined);

  const openFile = (name: string): WriteStream => {
    const file = fileOf(name)!;
    let stream = files.get(name);
    if (!stream) {
      // Each start begins a fresh file; the previous start's is kept beside it, for the crash it may show.
      try {
        renameSync(file, `${file}.1`);
      } catch {
        // no previous file
      }
      stream = createWriteStream(file, { flags: 'w', mode: 0o600 });
      stream.on('error', () => {}); // a full disk must not take the launcher down; the lines are lost
      files.set(name, stream);
    }
    return stream;
  };

  return {
    destination,
    dir,
    fileOf,
    sink(name, consolePrefix) {
      if (destination === 'console') {
        return (line, from) => {
          if (from === 'stderr') process.stderr.write(`${consolePrefix}${line}\n`);
          else process.stdout.write(line.startsWith('{') ? `${line}\n` : `${consolePrefix}${line}\n`);
        };
      }
      // Opened now, not at the first line: a quiet process must not leave its previous start's file looking current.
      const stream = openFile(name);
      return (line) => {
        if (!stream.writableEnded) stream.write(`${line}\n`);
      };
    },
    async close() {
      await Promise.all([...files.values()].map((stream) => new Promise<void>((resolve) => stream.end(resolve))));
    },
  };
}
