import http from 'node:http';
import https from 'node:https';

/**
 * GET `url` with a bearer token over a keep-alive agent (http or https by the URL): the answer's
 * status, or the code of the error that ended the request. A pooled socket the server closed for
 * idleness just as it was reused is retried once, as Node's documentation of `reusedSocket` shows,
 * on a connection of its own: Node 20's agent expires idle sockets after the server's own Keep-Alive
 * timeout, so the two race, more often on a loaded machine, and the sockets a burst opened all reach
 * that edge together, so the pool's next one may be as stale. Any other failure is the answer.
 */
export function keepAliveGet(agent: http.Agent, url: string, token: string, retry = true): Promise<number | string> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? https.request : http.request;
    const req = send(url, { agent, headers: { Authorization: `Bearer ${token}` }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!(retry && req.reusedSocket && err.code === 'ECONNRESET')) return resolve(err.code ?? err.message);
      const fresh = url.startsWith('https:') ? new https.Agent({ ...(agent as https.Agent).options, keepAlive: false }) : new http.Agent();
      resolve(keepAliveGet(fresh, url, token, false));
    });
    req.end();
  });
}
