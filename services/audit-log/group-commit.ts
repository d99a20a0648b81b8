/**
 * Group commit of audit events onto the queue: a publish made while the previous add is in flight
 * waits for it and leaves with every other publish that waited, as one job. An idle publisher adds
 * at once (no timer, no added latency); a busy one pays the queue's per-job cost once per group
 * instead of once per event. Each publish still resolves only after Redis has acknowledged the job
 * holding its event, and rejects with that job's error.
 */
import type { AuditEvent } from './events.ts';

/** The most events one job carries; past this a busy publisher sends several groups back to back. */
export const MAX_GROUP_EVENTS = 500;

interface Waiting {
  event: AuditEvent;
  resolve(): void;
  reject(err: unknown): void;
}

export interface GroupCommit {
  /** Resolves once the job holding `event` is acknowledged. */
  send(event: AuditEvent): Promise<void>;
  /** Resolves when nothing waits and nothing is in flight. */
  idle(): Promise<void>;
}

/** `add` puts one group on the queue (one job, whatever its size). */
export function createGroupCommit(add: (events: AuditEvent[]) => Promise<void>, maxEvents = MAX_GROUP_EVENTS): GroupCommit {
  let waiting: Waiting[] = [];
  let sending: Promise<void> | undefined;

  const sendWaiting = async () => {
    while (waiting.length > 0) {
      const group = waiting.slice(0, maxEvents);
      waiting = waiting.slice(group.length);
      try {
        await add(group.map((w) => w.event));
        for (const w of group) w.resolve();
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
  };

  return {
    send(event) {
      return new Promise<void>((resolve, reject) => {
        waiting.push({ event, resolve, reject });
        sending ??= sendWaiting().finally(() => {
          sending = undefined;
        });
      });
    },
    idle: async () => {
      while (sending !== undefined) await sending;
    },
  };
}
