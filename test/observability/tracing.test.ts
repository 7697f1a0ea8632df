import { randomBytes } from 'node:crypto';
import { type RedisServer, run, serviceScript, startRedis, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './lib/otlp-receiver.ts';
import { logLines, type Stack, startStack } from './lib/stack.ts';

// Tracing from the production bundles (services/*/dist/server.js): instrumentations that hook
// require() record nothing there, so only spans seen from the bundles count. The OTLP receiver is a
// stand-in for the OpenTelemetry Collector (no collector can be installed here).

const SERVER = 2;
const CLIENT = 3;

/** A traceparent as a browser or the Ingress would send it: a sampled trace and the caller's span. */
function callerTrace() {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
}

async function createList(base: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${base}/api/lists`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{}',
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('tracing on, to an OTLP receiver', () => {
  let receiver: OtlpReceiver;
  let stack: Stack;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await startStack(redis, {
      both: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      // The frontend logs proxied API requests at debug level (the backend writes their access line).
      frontend: { LOG_LEVEL: 'debug', OTEL_SERVICE_NAME: 'tasktier-frontend' },
      backend: { LOG_LEVEL: 'info' },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  test('one write through the frontend is one trace: frontend, its proxy call, backend, Redis, in parent order', async () => {
    const listId = await createList(stack.frontendUrl);
    const caller = callerTrace();
    const response = await fetch(`${stack.frontendUrl}/api/lists/${listId}/todos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: caller.traceparent },
      body: JSON.stringify({ title: 'trace me' }),
    });
    expect(response.status).toBe(201);

    const inTrace = () => receiver.spans.filter((span) => span.traceId === caller.traceId);
    const find = (what: string, match: (span: ReceivedSpan) => boolean) =>
      inTrace().find(match) ?? expect.fail(`no ${what} span in ${JSON.stringify(inTrace(), null, 1)}`);
    // Each service exports in batches of its own: wait until both services' spans are in.
    await waitFor('the spans of both services', () => {
      const spans = inTrace();
      const has = (service: string, kind: number) =>
        spans.some((span) => span.service === service && span.kind === kind);
      return (
        has('tasktier-frontend', SERVER) &&
        has('tasktier-frontend', CLIENT) &&
        has('tasktier-backend', SERVER) &&
        spans.some((span) => span.service === 'tasktier-backend' && span.name === 'evalsha')
      );
    });

    // The frontend's request span continues the caller's trace (traceparent honoured from outside).
    const frontendRequest = find(
      'frontend request',
      (span) => span.service === 'tasktier-frontend' && span.kind === SERVER,
    );
    expect(frontendRequest.parentSpanId).toBe(caller.parentId);
    expect(frontendRequest.name).toBe('POST /api/*');
    const proxyCall = find('proxy call', (span) => span.service === 'tasktier-frontend' && span.kind === CLIENT);
    const backendRequest = find(
      'backend request',
      (span) => span.service === 'tasktier-backend' && span.kind === SERVER,
    );
    expect(backendRequest.name).toBe('POST /api/lists/:listId/todos');
    const redisCommand = find('redis', (span) => span.service === 'tasktier-backend' && span.name === 'evalsha');
    expect(redisCommand.kind).toBe(CLIENT);
    expect(redisCommand.attributes['db.system.name']).toBe('redis');

    // Parent order: each is a descendant of the one before (with @fastify/otel's handler spans between).
    const byId = new Map(inTrace().map((span) => [span.spanId, span]));
    const ancestors = (span: ReceivedSpan) => {
      const chain: string[] = [];
      for (let at = byId.get(span.parentSpanId); at; at = byId.get(at.parentSpanId)) chain.push(at.spanId);
      return chain;
    };
    expect(ancestors(proxyCall)).toContain(frontendRequest.spanId);
    expect(backendRequest.parentSpanId).toBe(proxyCall.spanId);
    expect(ancestors(redisCommand)).toContain(backendRequest.spanId);
    // The trace as a tree, for the reader of the test's output (docs/observability.md shows one).
    const tree = (parent: string, indent: string): string[] =>
      inTrace()
        .filter((span) => span.parentSpanId === parent)
        .flatMap((span) => [`${indent}${span.service}: ${span.name}`, ...tree(span.spanId, `${indent}  `)]);
    console.log(tree(caller.parentId, '').join('\n'));

    // The list id is a credential: no span holds it, only its one-way tag.
    expect(JSON.stringify(inTrace())).not.toContain(listId);
    expect(backendRequest.attributes['url.path']).toBe('/api/lists/{listId}/todos');
    expect(backendRequest.attributes['tasktier.list']).toMatch(/^[A-Za-z0-9_-]{8}$/);

    // The trace id in both services' log lines, each with its own span id.
    await waitFor(
      'both log lines',
      () =>
        logLines(stack.frontend).some((line) => line.traceId === caller.traceId) &&
        logLines(stack.backend).some((line) => line.traceId === caller.traceId && line.msg === 'request'),
    );
    const backendLine = logLines(stack.backend).find(
      (line) => line.traceId === caller.traceId && line.msg === 'request',
    );
    expect(backendLine?.spanId).toBe(backendRequest.spanId);
    const frontendLine = logLines(stack.frontend).find((line) => line.traceId === caller.traceId);
    expect(frontendLine?.spanId).toBe(frontendRequest.spanId);
  });

  test("a change event links the reader's refresh to the write that caused it (tasktier.list.revision)", async () => {
    const listId = await createList(stack.frontendUrl);
    const abort = new AbortController();
    const events = await fetch(`${stack.frontendUrl}/api/lists/${listId}/events`, { signal: abort.signal });
    const reader = events.body!.getReader();
    let received = '';
    const nextChange = async () => {
      for (;;) {
        const match = /event: change\ndata: (.*)\n/.exec(received);
        if (match) return JSON.parse(match[1]!) as { revision: string };
        const { value, done } = await reader.read();
        if (done) throw new Error('the event stream ended');
        received += Buffer.from(value).toString('utf8');
      }
    };
    await waitFor('the ready event', async () => {
      const { value } = await reader.read();
      received += Buffer.from(value ?? new Uint8Array()).toString('utf8');
      return received.includes('event: ready');
    });

    const writer = callerTrace();
    const write = await fetch(`${stack.frontendUrl}/api/lists/${listId}/todos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: writer.traceparent },
      body: JSON.stringify({ title: 'seen by the reader' }),
    });
    expect(write.status).toBe(201);
    const change = await nextChange();
    abort.abort();

    // The reader refreshes in a trace of its own.
    const refresher = callerTrace();
    const refresh = await fetch(`${stack.frontendUrl}/api/lists/${listId}/todos`, {
      headers: { traceparent: refresher.traceparent },
    });
    expect(refresh.status).toBe(200);
    expect(refresh.headers.get('etag')).toBe(`"${change.revision}"`);

    const backendSpan = (traceId: string) =>
      receiver.spans.find(
        (span) => span.traceId === traceId && span.service === 'tasktier-backend' && span.kind === SERVER,
      );
    const [writeSpan, refreshSpan] = await waitFor('both backend spans', () => {
      const found = [backendSpan(writer.traceId), backendSpan(refresher.traceId)];
      return found.every(Boolean) ? found : undefined;
    });
    expect(writeSpan?.attributes['tasktier.list.revision']).toBe(change.revision);
    expect(refreshSpan?.attributes['tasktier.list.revision']).toBe(change.revision);
  });
});

describe('tracing off (the default)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(redis, { frontend: { LOG_LEVEL: 'debug' }, backend: { LOG_LEVEL: 'info' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test("a caller's traceparent is in both services' log lines, the frontend's span the backend's parent", async () => {
    const listId = await createList(stack.frontendUrl);
    const caller = callerTrace();
    const response = await fetch(`${stack.frontendUrl}/api/lists/${listId}/todos`, {
      headers: { traceparent: caller.traceparent },
    });
    expect(response.status).toBe(200);
    await waitFor(
      'both log lines',
      () =>
        logLines(stack.frontend).some((line) => line.traceId === caller.traceId) &&
        logLines(stack.backend).some((line) => line.traceId === caller.traceId),
    );
    const frontendLine = logLines(stack.frontend).find((line) => line.traceId === caller.traceId)!;
    const backendLine = logLines(stack.backend).find((line) => line.traceId === caller.traceId)!;
    expect(frontendLine.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(backendLine.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(backendLine.spanId).not.toBe(frontendLine.spanId);
  });

  test('without a traceparent (or with a malformed one) both services still log one shared trace id', async () => {
    const response = await fetch(`${stack.frontendUrl}/api/lists`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: '00-not-a-trace-01', 'x-request-id': 'untraced-1' },
      body: '{}',
    });
    expect(response.status).toBe(201);
    const line = (service: Stack['frontend']) =>
      logLines(service).find((entry) => entry.requestId === 'untraced-1' && entry.msg === 'request');
    await waitFor('both access lines', () => line(stack.frontend) && line(stack.backend));
    expect(line(stack.frontend)?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(line(stack.backend)?.traceId).toBe(line(stack.frontend)?.traceId);
  });
});

describe('a bad tracing setting', () => {
  test.each([
    ['OTEL_TRACES_SAMPLER', 'sometimes'],
    ['OTEL_TRACES_SAMPLER_ARG', '2'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'],
    ['OTEL_BSP_SCHEDULE_DELAY', 'soon'],
  ])('%s=%s stops the start with one line naming it', async (name, value) => {
    const result = await run(process.execPath, [serviceScript('backend')], {
      env: {
        PORT: '0',
        REDIS_URL: redis.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        [name]: value,
      },
      timeoutMs: 20_000,
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(name)]);
    expect(result.stderr).toMatch(/^tasktier-backend: invalid configuration: /);
  });
});
