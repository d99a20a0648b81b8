import { z } from 'zod';
import { ConfigError } from './config-error.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** When a BullMQ job scheduler fires: a cron pattern in a timezone, or a fixed interval (tests, drills). */
export type Schedule = { pattern: string; tz: string } | { every: number };

export function parseInteger(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const result = z.coerce.number().int().min(min).max(max).safeParse(raw.trim());
  if (!result.success) throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  return result.data;
}

export function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

/** A JSON array of strings or a comma list. */
export function parseList(name: string, raw: string | undefined, fallback: readonly string[]): string[] {
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const text = raw.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(name, 'is not a valid JSON array');
    }
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
      throw new ConfigError(name, 'must be a JSON array of strings');
    }
    return parsed.map((v) => v.trim()).filter(Boolean);
  }
  return text
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

/** Exactly one of `allowed`. */
export function parseChoice<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((option) => option === value);
  if (found === undefined) throw new ConfigError(name, `must be one of ${allowed.join(', ')}`);
  return found;
}

export function checkHttpUrl(name: string, url: string): string {
  let protocol = '';
  try {
    protocol = new URL(url).protocol;
  } catch {
    // reported below, like any other scheme
  }
  if (!/^https?:$/.test(protocol)) throw new ConfigError(name, 'must be an http(s) URL');
  return url;
}

/** `<prefix>_EVERY_MS` when set, else `<prefix>_CRON` in `<prefix>_TZ`. */
export function parseSchedule(env: Env, prefix: string, fallback: { cron: string; tz: string }): Schedule {
  const every = env[`${prefix}_EVERY_MS`];
  if (every !== undefined && every !== '') {
    return { every: parseInteger(`${prefix}_EVERY_MS`, every, 0, 100, 366 * 86_400_000) };
  }
  const pattern = (env[`${prefix}_CRON`] ?? fallback.cron).trim();
  const fields = pattern.split(/\s+/);
  if (fields.length < 5 || fields.length > 6 || !fields.every((f) => /^[0-9*,/?LW#A-Za-z-]+$/.test(f))) {
    throw new ConfigError(`${prefix}_CRON`, `"${pattern}" is not a cron pattern (minute hour day month weekday)`);
  }
  const tz = env[`${prefix}_TZ`] ?? fallback.tz;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw new ConfigError(`${prefix}_TZ`, `"${tz}" is not a known time zone`);
  }
  return { pattern, tz };
}
