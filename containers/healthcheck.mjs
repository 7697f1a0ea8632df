// Container healthcheck for images without a shell or curl (distroless): exits 0 when the
// service's readiness endpoint answers 200, 1 otherwise. compose.yaml runs it as
// `node /app/healthcheck.mjs`; an optional argument overrides the path (default /readyz).
const port = process.env.PORT ?? '8080';
const path = process.argv[2] ?? '/readyz';
let code = 1;
try {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2500) });
  await response.arrayBuffer();
  if (response.status === 200) code = 0;
  else console.error(`healthcheck: ${path} answered ${response.status}`);
} catch (error) {
  console.error(`healthcheck: ${path} failed: ${error instanceof Error ? error.message : String(error)}`);
}
process.exit(code);
