import type { ServerResponse } from 'node:http';

/**
 * Calls `answered` once, when the handler has given its answer: on 'finish' as usual, or — when the
 * client went away first — once the handler ends the response to no one. Node emits no 'finish'
 * then, only an early 'close' (before this is even called, if the client left while an earlier
 * middleware awaited), so an outcome recorded on 'finish' alone would be lost while the action it
 * records was still carried out: a client that hangs up right after sending is enough.
 */
export function whenAnswered(res: ServerResponse, answered: () => void): void {
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    answered();
  };
  const afterClose = () => {
    if (called) return;
    // Ended but not flushed to the closed connection: the answer is given.
    if (res.writableEnded) {
      once();
      return;
    }
    // The handler is still at work: the answer is given when it ends the response.
    const end = res.end;
    res.end = function (this: ServerResponse, ...args: Parameters<ServerResponse['end']>) {
      try {
        return end.apply(this, args);
      } finally {
        once();
      }
    } as ServerResponse['end'];
  };
  if (res.destroyed) {
    afterClose();
    return;
  }
  res.once('finish', once);
  res.once('close', afterClose);
}
