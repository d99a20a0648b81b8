import type { ServerResponse } from 'node:http';

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
