/**
 * Persistence, measured: steady writes through the API, `kill -9` of Redis, a restart on the same
 * data directory, and a comparison of every write the API acknowledged with what Redis has.
 *
 * `kill -9` of a process loses nothing it has written: the kernel's page cache still has it. What
 * `appendfsync` protects against is a crash of the host, which loses whatever was not fsync'd. To
 * measure that, Redis runs with lib/page-cache-shim.c preloaded: it holds append-only-file writes
 * in the process until Redis fsyncs them, so `kill -9` loses exactly what a power cut would.
 * (Without a C compiler the test still runs, as a plain process crash, and says so.)
 */
import type { Problem, Todo } from '@tasktier/contract';
import { waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, isProblem, mapLimit } from './lib/api.ts';
import { checkInvariants } from './lib/invariants.ts';
import { acknowledged, WriteLoad, type WriteOp } from './lib/load.ts';
import {
  type Backend,
  compileShim,
  type DurabilityLevel,
  type RedisServer,
  startBackend,
  startDurableRedis,
  tempDir,
} from './lib/stack.ts';

const WORKERS = 8;
const ACKS_BEFORE_KILL = 1500;
const ACKS_AFTER_RESTART = 100;

const scratch = tempDir('durability');
let shim: string | undefined;

beforeAll(() => {
  shim = compileShim(scratch.dir);
  if (!shim && process.env.TASKTIER_REQUIRE_ALL_SUITES === '1') {
    throw new Error('gcc is needed to build the page-cache shim (apt-get install -y gcc libc6-dev)');
  }
  if (!shim) console.warn('durability: gcc not found: kill -9 is a process crash only (page cache kept)');
});
afterAll(() => scratch.remove());

interface Outcome {
  lost: WriteOp[];
  committedUnacknowledged: number;
  ackedBeforeKill: WriteOp[];
}

/** Which acknowledged writes are missing from what the API now returns. */
function compare(ops: WriteOp[], todosByList: Map<string, Todo[]>, killAt: number): Outcome {
  const present = new Map<string, Todo>();
  const titles = new Set<string>();
  for (const todos of todosByList.values()) {
    for (const todo of todos) {
      present.set(todo.id, todo);
      titles.add(todo.title);
    }
  }
  // Each todo is created once and updated at most once. A creation is kept if the todo exists (with
  // its title, or the title of an update sent for it, acknowledged or not); an acknowledged update is
  // kept if the todo shows it.
  const updateTitles = new Map<string, string>();
  for (const op of ops) if (op.kind === 'update') updateTitles.set(op.todoId!, op.title);
  const lost: WriteOp[] = [];
  for (const op of ops) {
    if (!acknowledged(op)) continue;
    const todo = present.get(op.todoId!);
    if (!todo) {
      lost.push(op);
    } else if (op.kind === 'update' && (!todo.completed || todo.title !== op.title)) {
      lost.push(op);
    } else if (op.kind === 'create' && todo.title !== op.title && todo.title !== updateTitles.get(op.todoId!)) {
      lost.push(op);
    }
  }
  const committedUnacknowledged = ops.filter(
    (op) => op.kind === 'create' && !acknowledged(op) && titles.has(op.title),
  ).length;
  return { lost, committedUnacknowledged, ackedBeforeKill: ops.filter((op) => acknowledged(op) && op.doneAt < killAt) };
}

describe.each<DurabilityLevel>(['always', 'everysec'])('appendfsync %s: kill -9 of Redis under write load', (level) => {
  let redis: RedisServer;
  let backend: Backend;

  afterAll(async () => {
    await backend?.stop();
    await redis?.destroy();
  });

  it('keeps what it promised, answers 503 while Redis is down, recovers by itself, never half-writes', async () => {
    redis = await startDurableRedis(level, shim ? { preload: shim } : {});
    backend = await startBackend(redis.url);
    const api = new Api(backend.url);
    const listIds = await mapLimit(
      Array.from({ length: WORKERS }, (_, i) => i),
      4,
      () => api.createList(),
    );

    const load = new WriteLoad(api, listIds);
    const loadStarted = performance.now();
    await waitFor('writes before the crash', () => load.count(acknowledged) >= ACKS_BEFORE_KILL, { timeoutMs: 60_000 });
    const killAt = performance.now();
    await redis.kill();
    const killedAt = performance.now();

    // While Redis is down: every write fails fast with 503 problem+json, readiness is 503.
    await waitFor('failed writes while Redis is down', () => load.count((op) => op.sentAt > killedAt) >= 3 * WORKERS, {
      timeoutMs: 20_000,
    });
    const down = await api.request<Problem>('GET', `/api/lists/${listIds[0]}/todos`);
    expect(down.status).toBe(503);
    expect(isProblem(down)).toBe(true);
    expect(down.body.detail).toMatch(/unavailable/);
    expect(await api.status('/readyz')).toBe(503);
    expect(await api.status('/healthz')).toBe(200);
    const restartAt = performance.now();
    const duringOutage = load.ops.filter((op) => op.sentAt > killedAt && op.doneAt < restartAt);
    for (const op of duringOutage) {
      expect(op.status).toBe(503);
      expect(op.problem).toBe(true);
    }

    await redis.restart();
    await waitFor('the backend to be ready again', async () => (await api.status('/readyz')) === 200, {
      timeoutMs: 20_000,
    });
    const readyAgainAt = performance.now();
    await waitFor(
      'writes after the restart',
      () => load.count((op) => acknowledged(op) && op.sentAt > readyAgainAt) >= ACKS_AFTER_RESTART,
      { timeoutMs: 30_000 },
    );
    await load.stop();

    const todosByList = new Map<string, Todo[]>();
    for (const listId of listIds) todosByList.set(listId, await api.getTodos(listId));
    const outcome = compare(load.ops, todosByList, killAt);
    const lostBeforeKill = outcome.lost.filter((op) => op.doneAt < killAt);
    const oldestLost = Math.min(...lostBeforeKill.map((op) => op.doneAt));
    const window = lostBeforeKill.length > 0 ? killAt - oldestLost : 0;
    const seconds = (killAt - loadStarted) / 1000;
    const outageMs = duringOutage.map((op) => op.doneAt - op.sentAt);
    console.log(
      [
        `appendfsync ${level}${shim ? ' (host crash simulated: unsynced AOF writes dropped)' : ' (process crash only)'}:`,
        `  ${outcome.ackedBeforeKill.length} writes acknowledged before kill -9 (${(outcome.ackedBeforeKill.length / seconds).toFixed(0)}/s, ${WORKERS} clients)`,
        `  LOST: ${lostBeforeKill.length} acknowledged writes` +
          (lostBeforeKill.length > 0 ? `, window ${window.toFixed(0)} ms before the crash` : ''),
        `  ${outcome.committedUnacknowledged} writes in flight at the crash were kept without an acknowledgement`,
        `  outage: ${duringOutage.length} writes answered 503 problem+json, slowest in ${Math.max(0, ...outageMs).toFixed(0)} ms`,
        `  recovery: ready ${(readyAgainAt - restartAt).toFixed(0)} ms after Redis was started again`,
      ].join('\n'),
    );

    // Only the newest writes can be lost: none was lost if a write sent after it was acknowledged survived.
    const kept = outcome.ackedBeforeKill.filter((op) => !outcome.lost.includes(op));
    const newestKeptSend = Math.max(...kept.map((op) => op.sentAt));
    for (const op of lostBeforeKill) expect(op.doneAt).toBeGreaterThanOrEqual(newestKeptSend);
    if (level === 'always') expect(outcome.lost).toEqual([]);
    // Writes acknowledged after the restart all survived, whatever the level.
    expect(outcome.lost.filter((op) => op.sentAt > readyAgainAt)).toEqual([]);

    const report = checkInvariants(redis.cli);
    expect(report.problems).toEqual([]);
    expect(report.lists).toBe(WORKERS);
    for (const listId of listIds) {
      const list = await api.getList(listId);
      expect(list.body.todoCount).toBe(todosByList.get(listId)!.length);
    }
  });
});
