// Container healthcheck: exit 0 when this process answers GET /health on $PORT, else 1.
// Plain JavaScript so the check starts fast and needs neither tsx nor curl in the image.
// With TLS_MODE=on the process serves TLS 1.3 only: the check speaks https to 127.0.0.1 (a name
// every workload certificate holds) and trusts the deployment's bundle (TLS_CA_FILE, or the
// PKI_BUNDLE_FILE admin writes), presenting no certificate of its own, as any external client.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('healthcheck: PORT is not set');
  process.exit(1);
}

function httpsHealth(ca) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', ca, minVersion: 'TLSv1.3', timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

try {
  let healthy;
  if (process.env.TLS_MODE === 'on') {
    const bundle = process.env.TLS_CA_FILE || process.env.PKI_BUNDLE_FILE;
    if (!bundle) throw new Error('TLS_MODE=on but neither TLS_CA_FILE nor PKI_BUNDLE_FILE is set');
    healthy = await httpsHealth(readFileSync(bundle, 'utf8'));
  } else {
    healthy = (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) })).ok;
  }
  process.exit(healthy ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${err.message}`);
  process.exit(1);
}
