import type { Response } from 'express';
import { AppError } from '../platform/errors.ts';
import type { AuditStatus } from './events.ts';
import type { AuditEventInput, AuditPublisher } from './publisher.ts';

export interface ActionEvents<T> {
  /** The event of what was done; undefined when nothing happened (a skipped rotation) or the caller records it later. */
  success?(result: T): AuditEventInput | undefined;
  /** The event of an attempt that failed before anything changed: refused by the domain or broken on the way. */
  failed?(error: unknown): AuditEventInput | undefined;
}

/** The status an error gives an attempt's event: refused by authorization → denied, anything else → failure. */
export function statusOf(error: unknown): AuditStatus {
  return error instanceof AppError && error.status === 403 ? 'denied' : 'failure';
}

/** The error's stable code, the reason an auditor reads in the event's details. */
export function reasonOf(error: unknown): string {
  return error instanceof AppError ? error.code : 'internal_error';
}

/**
 * Publishes the event of something that already happened as `committed` (spooled rather than lost
 * when Redis is away). Given the response, marks it audited so the 401/403 middleware adds no second,
 * generic event. A success that cannot be recorded while the answer is still unsent becomes a 500
 * `audit_not_recorded`: the caller must not believe the log holds it. Once the answer is gone, or
 * for a failed attempt, the loss is only logged.
 */
export async function recordOutcome(audit: AuditPublisher, event: AuditEventInput, res?: Response): Promise<void> {
  if (res) res.locals.auditRecorded = true;
  try {
    await audit.publish(event, { committed: true });
  } catch (err) {
    res?.req.log.error({ err: (err as Error).message, eventType: event.event_type, status: event.status }, 'audit event was lost');
    // A response ended to a client that hung up has no headers sent, yet it is answered all the same.
    if (event.status === 'success' && res && !res.headersSent && !res.writableEnded) {
      throw new AppError(500, 'audit_not_recorded', 'The action was done but its audit event could not be recorded', { isOperational: true, cause: err });
    }
  }
}

/**
 * The one policy for audited actions: refuse before doing anything when the audit log cannot take
 * the event (fail-closed, Redis away → 503, nothing recorded: the log is what is missing); do it;
 * record what happened. A failed attempt is recorded too, so an auditor finds a record for every action that was tried, and never one
 * claiming an action that did not happen.
 */
export async function auditedAction<T>(audit: AuditPublisher, action: () => Promise<T>, events: ActionEvents<T>, res?: Response): Promise<T> {
  audit.assertAvailable();
  let result: T;
  try {
    result = await action();
  } catch (err) {
    const failed = events.failed?.(err);
    if (failed) await recordOutcome(audit, failed, res);
    throw err;
  }
  const event = events.success?.(result);
  if (event) await recordOutcome(audit, event, res);
  return result;
}
