import { FailedError, type Kubectl, oneLine } from './cli.ts';

/**
 * Smoke checks after a rollout or before a blue-green switch. Two ways in:
 *  - through the Services, by the API server's service proxy (`kubectl get --raw
 *    /api/v1/namespaces/NS/services/http:NAME:http/proxy/PATH`): needs nothing but kubectl, and
 *    reaches a ready pod behind the Service, as the Ingress would. Each check runs several times
 *    so that more than one replica answers. On clusters where NetworkPolicies also govern traffic
 *    from the API server, use the second way;
 *  - through a URL (`--smoke-url`, the Ingress): the user's own path, including a write.
 * A check that fails throws a FailedError naming the check and what came back.
 */

export interface SmokeTarget {
  namespace: string;
  /** The Service in front of the frontends to test (frontend, or frontend-preview). */
  frontendService: string;
  /** The Service in front of the backends to test (backend, or backend-<slot>). */
  backendService: string;
}

const ATTEMPTS = 3;

function parse(text: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new FailedError(`smoke test failed: ${what} did not answer JSON (${oneLine(text).slice(0, 120)})`);
}

export async function smokeViaServices(
  kubectl: Kubectl,
  target: SmokeTarget,
  report: (line: string) => void,
): Promise<void> {
  const get = (service: string, path: string) =>
    kubectl.ok(
      ['get', '--raw', `/api/v1/namespaces/${target.namespace}/services/http:${service}:http/proxy${path}`],
      (message) => new FailedError(`smoke test failed: GET ${path} through Service ${service}: ${message}`),
    );
  const versions = new Set<string>();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    for (const service of [target.frontendService, target.backendService]) {
      const ready = parse(await get(service, '/readyz'), `${service} /readyz`);
      if (ready.status !== 'ready') {
        throw new FailedError(`smoke test failed: ${service} /readyz says ${JSON.stringify(ready.status)}`);
      }
      const version = parse(await get(service, '/version'), `${service} /version`);
      versions.add(`${service} ${String(version.version)}`);
    }
    // Through the frontend to the backend: the API description comes from the backend.
    const openapi = parse(
      await get(target.frontendService, '/api/openapi.json'),
      `${target.frontendService} /api/openapi.json`,
    );
    if (typeof openapi.openapi !== 'string' || !openapi.paths) {
      throw new FailedError(
        `smoke test failed: ${target.frontendService} /api/openapi.json is not the API description`,
      );
    }
    const page = await get(target.frontendService, '/');
    if (!/<html/i.test(page)) throw new FailedError(`smoke test failed: ${target.frontendService} / is not the UI`);
  }
  report(
    `smoke test passed through Services ${target.frontendService} and ${target.backendService} (${[...versions].join(', ')})`,
  );
}

async function request(url: URL, init: RequestInit, expected: number, what: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new FailedError(`smoke test failed: ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await response.text();
  if (response.status !== expected) {
    throw new FailedError(`smoke test failed: ${what} answered ${response.status}, expected ${expected}`);
  }
  return text;
}

/** Through the Ingress: the UI, the version, and a write that is read back (then cleared). */
export async function smokeViaUrl(base: string, report: (line: string) => void): Promise<void> {
  const url = (path: string) => new URL(path, base);
  const json = { 'content-type': 'application/json' };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const page = await request(url('/'), {}, 200, 'GET /');
    if (!/<html/i.test(page)) throw new FailedError('smoke test failed: GET / is not the UI');
  }
  const version = parse(await request(url('/version'), {}, 200, 'GET /version'), 'GET /version');
  const list = parse(await request(url('/api/lists'), { method: 'POST' }, 201, 'POST /api/lists'), 'POST /api/lists');
  const todos = `/api/lists/${String(list.id)}/todos`;
  const title = `smoke test ${new Date().toISOString()}`;
  const created = parse(
    await request(url(todos), { method: 'POST', headers: json, body: JSON.stringify({ title }) }, 201, `POST ${todos}`),
    `POST ${todos}`,
  );
  const read = parse(
    await request(url(`${todos}/${String(created.id)}`), {}, 200, 'GET the new todo'),
    'GET the new todo',
  );
  if (read.title !== title) throw new FailedError('smoke test failed: the todo read back is not the one written');
  await request(url(todos), { method: 'DELETE' }, 204, `DELETE ${todos}`);
  report(`smoke test passed through ${base} (version ${String(version.version)}; wrote and read back a todo)`);
}
