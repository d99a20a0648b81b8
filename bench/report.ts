/**
 * What every benchmark returns: figures, each next to a baseline measured in the same run and the
 * target it is held to. Benchmarks print; they never fail on time (the machines are shared).
 */
import os from 'node:os';

export interface Figure {
  /** What was measured, e.g. "tokens issued (RS256)". */
  name: string;
  value: number;
  unit: string;
  /** The same-run baseline this figure is compared with, when the target is a ratio. */
  baseline?: { name: string; value: number; unit: string };
  /** Human-readable target, e.g. "≥ 2000 tokens/s" or "≥ 0.8 of baseline". */
  target: string;
  /** Whether the target was met in this run. */
  met: boolean;
}

export interface Benchmark {
  /** Short title printed above the figures, e.g. "Identity: tokens and authenticated requests". */
  title: string;
  run(): Promise<Figure[]>;
}

const round = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3));

/** Markdown table rows: figure, value, baseline, ratio, target, met. */
export function formatFigures(figures: Figure[]): string {
  const lines = ['| figure | value | baseline (same run) | ratio | target | met |', '|---|---|---|---|---|---|'];
  for (const f of figures) {
    const baseline = f.baseline ? `${f.baseline.name}: ${round(f.baseline.value)} ${f.baseline.unit}` : '—';
    const ratio = f.baseline && f.baseline.value !== 0 ? round(f.value / f.baseline.value) : '—';
    lines.push(`| ${f.name} | ${round(f.value)} ${f.unit} | ${baseline} | ${ratio} | ${f.target} | ${f.met ? 'yes' : 'NO'} |`);
  }
  return lines.join('\n');
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** Percentile of already-sorted numbers (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
