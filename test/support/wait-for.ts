import { setTimeout as sleep } from 'node:timers/promises';

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export interface WaitOptions<T> {
  /** When the value read is the one awaited; without it, when the value is truthy. */
  until?: (value: T) => boolean;
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the timeout error; as a function it is given the last value read. */
  message?: string | ((last: T) => string);
}

/**
 * Reads `read` every `intervalMs` (50) until the value is the one awaited and returns it; after
 * `timeoutMs` (10 s) it throws naming `message`. An error thrown by `read` ends the wait at once.
 */
export function waitFor<T>(read: () => T | Promise<T>, options?: WaitOptions<T> & { until?: undefined }): Promise<Truthy<T>>;
export function waitFor<T>(read: () => T | Promise<T>, options: WaitOptions<T> & { until: (value: T) => boolean }): Promise<T>;
export async function waitFor<T>(read: () => T | Promise<T>, options: WaitOptions<T> = {}): Promise<T> {
  const { until = Boolean, timeoutMs = 10_000, intervalMs = 50, message } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    if (Date.now() >= deadline) {
      const what = typeof message === 'function' ? message(value) : (message ?? `a condition (last read: ${JSON.stringify(value)?.slice(0, 300)})`);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}
