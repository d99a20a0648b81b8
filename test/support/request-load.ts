import { setTimeout as sleep } from 'node:timers/promises';

export interface PacedLoadResult {
  /** Requests sent. */
  sent: number;
  /** Requests answered as expected. */
  succeeded: number;
  /** What went wrong, one line per failed request (the first ones). */
  failures: string[];
  failed: number;
  /** Answered requests per second over the whole run, until the last answer came in. */
  perSecond: number;
  /** Requests sent per second, until the last was sent: the rate asked for unless the schedule slipped. */
  sentPerSecond: number;
  /** Slowest answer, ms. */
  maxLatencyMs: number;
}

/** One request of the load: resolves when it was answered as expected, rejects (with the reason) when not. */
export type PacedRequest = (n: number) => Promise<void>;

const TICK_MS = 10;

/** An error with its causes: undici's "fetch failed" says why only in its cause. */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; code?: string; cause?: unknown } | undefined; e && parts.length < 4; e = e.cause as typeof e) {
    parts.push(`${e.message ?? String(e)}${e.code ? ` (${e.code})` : ''}`);
  }
  return parts.join(' ← ');
}

/**
 * Open-loop load: `rate` requests a second for `durationMs`, sent on schedule whether or not the
 * earlier ones have been answered, so a stall shows as a lower achieved rate rather than being hidden
 * by a client that waits. At most `maxInFlight` are outstanding; past that the schedule slips.
 */
export async function runPacedLoad(request: PacedRequest, options: { rate: number; durationMs: number; maxInFlight?: number }): Promise<PacedLoadResult> {
  const maxInFlight = options.maxInFlight ?? 256;
  const failures: string[] = [];
  let sent = 0;
  let succeeded = 0;
  let failed = 0;
  let inFlight = 0;
  let maxLatencyMs = 0;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const one = (n: number) => {
    const at = performance.now();
    inFlight++;
    const done = request(n).then(
      () => void succeeded++,
      (err: unknown) => {
        failed++;
        if (failures.length < 20) failures.push(`#${n} at ${Math.round(at - started)} ms: ${describe(err)}`);
      },
    );
    const tracked = done.finally(() => {
      inFlight--;
      maxLatencyMs = Math.max(maxLatencyMs, performance.now() - at);
      pending.delete(tracked);
    });
    pending.add(tracked);
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * options.rate) / 1000));
    while (sent < due && inFlight < maxInFlight) one(sent++);
    await sleep(TICK_MS);
  }
  const sentSeconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  return { sent, succeeded, failed, failures, perSecond: succeeded / seconds, sentPerSecond: sent / sentSeconds, maxLatencyMs: Math.round(maxLatencyMs) };
}

/**
 * What this machine sustains right now: `concurrency` requests kept in flight for `durationMs`, each
 * sent as the one before it is answered (so nothing queues up), in answers a second. Failures count
 * against the run like any other.
 */
export async function measureCapacity(
  request: PacedRequest,
  options: { concurrency: number; durationMs: number },
): Promise<{ perSecond: number; succeeded: number; failures: string[] }> {
  const failures: string[] = [];
  let succeeded = 0;
  let n = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      const at = performance.now();
      const id = n++;
      await request(id).then(
        () => void succeeded++,
        (err: unknown) => void failures.push(`capacity #${id} at ${Math.round(at - started)} ms: ${describe(err)}`),
      );
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  return { perSecond: succeeded / ((performance.now() - started) / 1000), succeeded, failures };
}
