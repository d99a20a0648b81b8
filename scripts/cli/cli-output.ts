/**
 * How a command line prints its result on stdout, always with the API's snake_case names:
 * `--json` one compact JSON line for machines; on a terminal, aligned lines a person reads; otherwise
 * (a pipe, a file) indented JSON. Progress and notes go to stderr, never here.
 */
export type OutputMode = 'json' | 'human' | 'indented-json';

export function outputModeOf(json: boolean | undefined, stdout: { isTTY?: boolean } = process.stdout): OutputMode {
  if (json) return 'json';
  return stdout.isTTY ? 'human' : 'indented-json';
}

export function printResult(result: unknown, mode: OutputMode, human: () => string[]): void {
  const text = mode === 'json' ? JSON.stringify(result) : mode === 'indented-json' ? JSON.stringify(result, null, 2) : human().join('\n');
  process.stdout.write(`${text}\n`);
}

/** `name  value` lines for a flat object: lists joined by commas, an empty one as "none". */
export function fieldLines(result: Record<string, unknown>): string[] {
  const width = Math.max(...Object.keys(result).map((name) => name.length));
  return Object.entries(result).map(([name, value]) => {
    const shown = Array.isArray(value)
      ? value.length
        ? value.join(', ')
        : 'none'
      : typeof value === 'object' && value !== null
        ? JSON.stringify(value)
        : String(value);
    return `  ${name.padEnd(width)}  ${shown}`;
  });
}
