/**
 * Progress of a long verification (millions of records) on stderr. On a terminal: one line,
 * rewritten in place a few times a second, with the records checked so far and the rate. Elsewhere
 * (a log file, CI): a plain line every 10 s, enough to show the run is alive without filling the log.
 */
export interface ChainProgress {
  chain_id: number;
  /** Records checked in this chain so far. */
  checked: number;
  /** Where in the chain the check is, when known. */
  sequence?: number;
  last_sequence?: number;
}

const TTY_EVERY_MS = 250;
const LOG_EVERY_MS = 10_000;

export function progressLine(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const started = Date.now();
  const checkedPerChain = new Map<number, number>();
  // Nothing for a run that ends within the first interval.
  let last = started;
  let drawn = false;
  const count = (n: number) => n.toLocaleString('en-US');

  return {
    update(progress: ChainProgress): void {
      checkedPerChain.set(progress.chain_id, progress.checked);
      const now = Date.now();
      if (now - last < (stream.isTTY ? TTY_EVERY_MS : LOG_EVERY_MS)) return;
      last = now;
      const total = [...checkedPerChain.values()].reduce((sum, n) => sum + n, 0);
      const rate = Math.round(total / Math.max(0.001, (now - started) / 1000));
      const { sequence, last_sequence: lastSequence } = progress;
      // The share first: on a narrow terminal the line is cut at its end.
      const where =
        sequence !== undefined && lastSequence
          ? `chain ${progress.chain_id} ${Math.min(100, Math.floor((sequence / lastSequence) * 100))}% (${count(sequence)} of ${count(lastSequence)})`
          : `chain ${progress.chain_id}`;
      const text = `${label}: ${count(total)} records checked, ${count(rate)} records/s · ${where}`;
      if (stream.isTTY) {
        // Cut to the terminal's width: a wrapped line could not be rewritten in place.
        stream.write(`\r${text.slice(0, Math.max(20, (stream.columns || 80) - 1))}\x1b[K`);
        drawn = true;
      } else stream.write(`${text}\n`);
    },
    /** Clears the line, so what is printed next starts on a clean one. */
    done(): void {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
