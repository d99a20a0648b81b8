// Container healthcheck: exit 0 when this process answers GET /health on $PORT, else 1.
// Plain JavaScript so the check starts fast and needs neither tsx nor curl in the image.
const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('healthcheck: PORT is not set');
  process.exit(1);
}
try {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) });
  process.exit(response.ok ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${err.message}`);
  process.exit(1);
}
