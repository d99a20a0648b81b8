import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.ts';

interface ClientErrorAnswer {
  status: number;
  code: ErrorCode;
  message: string;
}

const ANSWERS: Record<string, ClientErrorAnswer> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'Request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'The request took too long to arrive' },
};
const MALFORMED: ClientErrorAnswer = { status: 400, code: 'malformed_request', message: 'The request is not valid HTTP' };
const UNENCODED_URL: ClientErrorAnswer = {
  status: 400,
  code: 'unencoded_url',
  message:
    'The request line holds characters that must be percent-encoded (non-ASCII, spaces or control characters): ' +
    "encode them, e.g. Straße → Stra%C3%9Fe, or let curl do it with -G --data-urlencode 'name=Straße'",
};

/**
 * A request line with more than two spaces: `GET /files?name=a b HTTP/1.1`. llhttp ends the URL at
 * the first space inside it and then reports the wrong protocol (HPE_INVALID_CONSTANT), so the
 * cause is only visible in the bytes it received.
 */
function hasSpaceInUrl(rawPacket: unknown): boolean {
  if (!Buffer.isBuffer(rawPacket)) return false;
  const end = rawPacket.indexOf('\r\n');
  const line = rawPacket.subarray(0, end === -1 ? rawPacket.length : end).toString('latin1');
  return /^[A-Z]+ \S.* \S.* HTTP\/\d\.\d$/.test(line);
}

function answerFor(err: NodeJS.ErrnoException & { rawPacket?: unknown }): ClientErrorAnswer {
  // curl and most scripts send a URL as typed: raw UTF-8 or a space. Node's parser rightly refuses
  // both (accepting them would take the lenient parser, which request smuggling feeds on), so the
  // answer says what to change instead of only "not valid HTTP".
  if (err.code === 'HPE_INVALID_URL') return UNENCODED_URL;
  if (err.code === 'HPE_INVALID_CONSTANT' && hasSpaceInUrl(err.rawPacket)) return UNENCODED_URL;
  return ANSWERS[err.code ?? ''] ?? MALFORMED;
}

/**
 * Requests Node's HTTP parser refuses (oversized headers, garbage on the wire) never reach Express;
 * without this, Node answers them with an empty non-JSON body. Same error shape as everywhere else.
 */
export function answerClientErrorsWithJson(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const answer = answerFor(err);
    const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
    socket.end(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
