import { getNextMillis, type RepeatOptions } from 'bullmq';
import type { Schedule } from '../platform/config/index.ts';

/**
 * The first tick of `schedule` strictly after `after`, computed with BullMQ's own function so the
 * planned rotation time stored with a key is the time its scheduler fires.
 */
export function nextTick(schedule: Schedule, after: Date): Date {
  const millis = getNextMillis(after.getTime(), 'every' in schedule ? { every: schedule.every } : { pattern: schedule.pattern, tz: schedule.tz });
  if (millis === undefined || !Number.isFinite(millis)) throw new Error(`schedule ${JSON.stringify(schedule)} has no tick after ${after.toISOString()}`);
  return new Date(millis);
}

/**
 * Repeat options for `upsertJobScheduler`. A new `every` scheduler would fire at once and keep that
 * phase; starting it on the next multiple of the interval puts its ticks where `nextTick` expects
 * them. An existing scheduler keeps its phase: BullMQ reads startDate only when it creates one or its interval changes.
 */
export function schedulerRepeatOptions(schedule: Schedule, now: Date): Omit<RepeatOptions, 'key'> {
  if ('every' in schedule) return { every: schedule.every, startDate: nextTick(schedule, now).getTime() };
  return { pattern: schedule.pattern, tz: schedule.tz };
}
