import type { ServerResponse } from 'node:http';

/**
 * Calls `answered` once the handler has given its answer, whether or not the client is still there
 * to receive it. Usually that is Node's 'finish'. But 'finish' never comes for a response ended
 * after its client hung up, nor for one queued behind another on a pipelined connection that closed
 * (that one gets no 'close' either). An outcome recorded on 'finish' alone would then be lost while
 * the action it records was still carried out. Such a response counts as answered when the handler
 * ends it: a turn later, as 'finish' would be, so a handler that records its own event right after
 * ending the response has done so first.
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
    if (res.destroyed || res.req.destroyed) setImmediate(once);
    return result;
  } as ServerResponse['end'];
}
