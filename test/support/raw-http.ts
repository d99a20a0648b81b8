import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** Writes bytes no HTTP client would send (fetch and curl both refuse or rewrite them) and returns the whole answer. */
export function sendRaw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

/** sendRaw over TLS 1.3, trusting `ca`: the same bytes inside an established connection. */
export function sendRawTls(port: number, ca: string, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connectTls({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => socket.end(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

/** Status and JSON error of a raw answer, asserting it is labelled as JSON. */
export function parseRaw(answer: string): { status: number; json: { error: { code: string; message: string } } } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  assert.match(head, /content-type: application\/json/i);
  return { status: Number(head.split(' ')[1]), json: JSON.parse(body) };
}
