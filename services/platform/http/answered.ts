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
  /** Its whole answer went out ('finish' on a connection still whole). */
  | 'delivered'
  /** The handler answered, but the connection was gone, or the client took none of the rest of it for `patienceMs`. */
  | 'undelivered'
  /** The client left and the handler never answered within `patienceMs` (an upload or download cut off). */
  | 'abandoned'
  /** The server cut the answer off (a stream that failed after the headers went). */
  | 'failed';

/** How long a request may wait for its handler after the client left, or for its client to take the end of its answer. */
const PATIENCE_MS = 10_000;

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
 * Calls `done` once per request with how it ended and when (process.hrtime.bigint()): when the last
 * byte went out, when the connection was gone and the handler had answered, when the server cut the
 * answer off, or — given `patienceMs` more — when the client left and the handler gave no answer
 * (dated from the client's leaving), or took nothing of the answer's end. A client that hangs up
 * early cannot change the status its request is logged with: the handler's answer, given after the
 * hang-up, is still the one; nor keep it out of the log by neither reading nor closing.
 */
export function whenDone(req: IncomingMessage, res: ServerResponse, done: (ending: Ending, at: bigint) => void, patienceMs = PATIENCE_MS): void {
  const { socket } = req;
  let called = false;
  let timer: NodeJS.Timeout | undefined;
  let stopWaiting: () => void = () => undefined;
  const end = (ending: Ending, at = process.hrtime.bigint()) => {
    if (called) return;
    called = true;
    clearTimeout(timer);
    stopWaiting();
    done(ending, at);
  };
  const after = (ending: Ending, at: bigint) => {
    clearTimeout(timer);
    timer = setTimeout(() => end(ending, at), patienceMs);
    timer.unref();
  };
  // The connection, not the response: a response queued behind another on a pipelined connection
  // hears nothing of its end.
  const connectionGone = () => {
    if (res.writableEnded) end('undelivered');
    else after('abandoned', process.hrtime.bigint());
  };
  // 'finish' comes also when a reset connection threw the rest of the answer away.
  res.once('finish', () => end(socket.destroyed || socket.errored ? 'undelivered' : 'delivered'));
  if (socket.destroyed) connectionGone();
  else stopWaiting = onConnectionGone(socket, connectionGone);
  const endResponse = res.end;
  res.end = function (this: ServerResponse, ...args: Parameters<ServerResponse['end']>) {
    const result = endResponse.apply(this, args);
    // Ended on a connection already gone: nothing more will be heard of it. A turn lets 'finish' win.
    if (socket.destroyed) setImmediate(() => end('undelivered'));
    else if (!called) after('undelivered', process.hrtime.bigint());
    return result;
  } as ServerResponse['end'];
  const destroyResponse = res.destroy;
  res.destroy = function (this: ServerResponse, ...args: Parameters<ServerResponse['destroy']>) {
    // Destroyed while the connection was whole: the server's doing, not the client's.
    const byServer = !socket.destroyed;
    const result = destroyResponse.apply(this, args);
    if (byServer) end('failed');
    return result;
  } as ServerResponse['destroy'];
}
