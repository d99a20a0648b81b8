import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Calls `answered` once the handler has given its answer, whether or not the client is still there
 * to receive it. Node's 'finish' is not enough. It never comes for a response ended after its client
 * hung up, for one whose write then fails, or for one queued behind another on a pipelined
 * connection that closed (that one gets no 'close' either). An outcome recorded on 'finish' alone
 * would then be lost while the action it records was still carried out. So a response also counts as
 * answered a turn after the handler ends it. That turn lets a handler that records its own event
 * right after ending the response do so first.
 */
export function whenAnswered(res: ServerResponse, answered: () => void): void {
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    answered();
  };
  res.once('finish', once);
  const end = res.end;
  res.end = function (this: ServerResponse, ...args: Parameters<ServerResponse['end']>) {
    const result = end.apply(this, args);
    setImmediate(once);
    return result;
  } as ServerResponse['end'];
}

/** How a request ended, for the access log. */
export type Ending =
  /** Its whole answer went out ('finish'). */
  | 'delivered'
  /** The handler answered, but the connection was gone before all of it went out. */
  | 'undelivered'
  /** The client left and the handler never answered (an upload or download cut off). */
  | 'abandoned';

/** How long a handler may go on after its client left before its request counts as abandoned. */
const ABANDONED_AFTER_MS = 10_000;

/** Per connection, what waits for it to close: one listener per socket, however many requests are pipelined on it. */
const waitingForClose = new WeakMap<Socket, Set<() => void>>();

function onConnectionGone(socket: Socket, gone: () => void): () => void {
  let waiting = waitingForClose.get(socket);
  if (!waiting) {
    const callbacks = new Set<() => void>();
    waitingForClose.set(socket, callbacks);
    socket.once('close', () => {
      waitingForClose.delete(socket);
      for (const callback of callbacks) callback();
    });
    waiting = callbacks;
  }
  waiting.add(gone);
  return () => void waiting.delete(gone);
}

/**
 * Calls `done` once per request with how it ended, at the moment it did: when the last byte went out,
 * or when the connection was gone and the handler had answered, or `abandonedAfterMs` after the
 * client left without any answer from the handler. A client that hangs up early cannot change the
 * status its request is logged with: the handler's answer, given after the hang-up, is still the one.
 */
export function whenDone(req: IncomingMessage, res: ServerResponse, done: (ending: Ending) => void, abandonedAfterMs = ABANDONED_AFTER_MS): void {
  const { socket } = req;
  let called = false;
  let abandonTimer: NodeJS.Timeout | undefined;
  let stopWaiting: () => void = () => undefined;
  const end = (ending: Ending) => {
    if (called) return;
    called = true;
    clearTimeout(abandonTimer);
    stopWaiting();
    done(ending);
  };
  // The connection, not the response: a response queued behind another on a pipelined connection
  // hears nothing of its end.
  const connectionGone = () => {
    if (res.writableEnded) end('undelivered');
    else {
      abandonTimer = setTimeout(() => end('abandoned'), abandonedAfterMs);
      abandonTimer.unref();
    }
  };
  res.once('finish', () => end('delivered'));
  if (socket.destroyed) connectionGone();
  else stopWaiting = onConnectionGone(socket, connectionGone);
  const endResponse = res.end;
  res.end = function (this: ServerResponse, ...args: Parameters<ServerResponse['end']>) {
    const result = endResponse.apply(this, args);
    // Ended on a connection already gone: nothing more will be heard of it. A turn lets 'finish' win.
    if (socket.destroyed) setImmediate(() => end('undelivered'));
    return result;
  } as ServerResponse['end'];
}
