import http from 'node:http';
import https from 'node:https';

/**
 * GET `url` with a bearer token over a keep-alive agent (http or https by the URL): the answer's
 * status, or the code of the error that ended the request. A pooled socket the server closed for
 * idleness just as it was reused is retried once, as Node's documentation of `reusedSocket` shows:
 * Node 20's agent expires idle sockets after the server's own Keep-Alive timeout, so the two race,
 * more often on a loaded machine. Any other failure is the answer.
 */
export function keepAliveGet(agent: http.Agent, url: string, token: string, retried = false): Promise<number | string> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? https.request : http.request;
    const req = send(url, { agent, headers: { Authorization: `Bearer ${token}` }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') resolve(keepAliveGet(agent, url, token, true));
      else resolve(err.code ?? err.message);
    });
    req.end();
  });
}
