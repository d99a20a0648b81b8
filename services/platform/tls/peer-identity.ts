import type { RequestHandler } from 'express';
import type { TLSSocket } from 'node:tls';
import type { ServiceName } from '../config/index.ts';
import { AppError } from '../errors.ts';
import { spiffeIdsOf } from './workload-tls.ts';
import { spiffeIdOf } from './x509.ts';

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
    const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    if (!socket.authorized || !peer || Object.keys(peer).length === 0) {
      return next(new AppError(401, 'client_certificate_required', 'This route is for modules of this system: present a client certificate from its CA'));
    }
    const presented = spiffeIdsOf(peer);
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
