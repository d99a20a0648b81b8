import { setTimeout as sleep } from 'node:timers/promises';

/** Sleeps to the middle of a scheduler slot of `every` ms, where no tick is due and the last one has been handled. */
export async function untilMidSlot(every: number): Promise<void> {
  const now = Date.now();
  let target = Math.floor(now / every) * every + every / 2;
  if (target < now + 50) target += every;
  await sleep(target - now);
}
