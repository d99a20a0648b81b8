import type { RequestHandler } from 'express';
import type { TLSSocket } from 'node:tls';
import type { ServiceName } from '../config/index.ts';
import { AppError } from '../errors.ts';
import { spiffeIdsOf } from './workload-tls.ts';
import { spiffeIdOf } from './x509.ts';

/**
 * The SPIFFE IDs of a connection's client certificate; undefined without one. Read once per
 * connection: TLS 1.3 never changes the peer's certificate on a connection, and getPeerCertificate()
 * decodes the whole certificate each time it is called.
 */
const idsBySocket = new WeakMap<TLSSocket, string[] | undefined>();
function presentedIds(socket: TLSSocket): string[] | undefined {
  if (idsBySocket.has(socket)) return idsBySocket.get(socket);
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  const ids = peer && Object.keys(peer).length > 0 ? spiffeIdsOf(peer) : undefined;
  idsBySocket.set(socket, ids);
  return ids;
}

/**
 * Module-to-module routes: with TLS on, the caller must present a certificate of this system whose
 * SPIFFE ID is one of `allowed`, on top of its bearer token. With TLS off it lets everything through
 * (development without TLS; the bearer token is then all there is).
 */
export function requirePeer(tlsOn: boolean, ...allowed: ServiceName[]): RequestHandler {
  const ids = new Set(allowed.map(spiffeIdOf));
  return (req, _res, next) => {
    if (!tlsOn) return next();
    const socket = req.socket as TLSSocket;
    const presented = socket.authorized ? presentedIds(socket) : undefined;
    if (!presented) {
      return next(new AppError(401, 'client_certificate_required', 'This route is for modules of this system: present a client certificate from its CA'));
    }
    if (!presented.some((id) => ids.has(id))) {
      return next(
        new AppError(
          403,
          'peer_not_allowed',
          `${presented[0] ?? 'A certificate without a SPIFFE ID'} may not call this route (allowed: ${[...ids].join(', ')})`,
        ),
      );
    }
    next();
  };
}
