import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { x509 } from '../../services/platform/tls/x509.ts';

const run = promisify(execFile);

/**
 * openssl s_client against a listener (stdin closed, so it ends after the handshake): its report, the
 * server certificate's SANs, and whether the handshake failed. `ca` is the bundle file to verify with.
 */
export async function sClient(url: string, version: '-tls1_2' | '-tls1_3', ca: string) {
  const { hostname, port } = new URL(url);
  const pending = run('openssl', ['s_client', '-connect', `${hostname}:${port}`, version, '-CAfile', ca, '-servername', 'localhost'], { timeout: 10_000 });
  pending.child.stdin?.end();
  const out = await pending.then(
    (done) => ({ ...done, failed: false }),
    (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '', failed: true }),
  );
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out.stdout)?.[0];
  let sans = '';
  if (pem) {
    const x509 = run('openssl', ['x509', '-noout', '-ext', 'subjectAltName']);
    x509.child.stdin?.end(pem);
    sans = (await x509).stdout;
  }
  return { output: `${out.stdout}\n${out.stderr}`, failed: out.failed, sans };
}

/** The serial number of the certificate a TLS server on 127.0.0.1:`port` presents, as openssl reads it. */
export async function servedSerial(port: number, ca: string): Promise<string> {
  const client = run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', ca, '-tls1_3'], { timeout: 10_000 });
  client.child.stdin?.end();
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec((await client).stdout)?.[0];
  if (!pem) throw new Error(`the server on port ${port} presented no certificate`);
  return new x509.X509Certificate(pem).serialNumber;
}
