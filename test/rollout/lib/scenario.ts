import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '@tasktier/testkit';
import type { Cluster } from './cluster.ts';
import { between, type Figures, figures, Load, type RequestRecord } from './load.ts';
import { SseClient } from './sse.ts';

/** Virtual users of the load generator (keep-alive connections to the Ingress). */
const USERS = 32;
/** Write lists per scenario, each followed by this many live-sync clients. */
const WRITE_LISTS = 8;
const SSE_PER_LIST = 2;
/** Load before the event and after it, so "before" and "during" can be compared. */
const BEFORE_MS = 4000;
const AFTER_MS = 3000;
/** An old nginx worker closes its idle client connections right after a reload took effect. */
const RELOAD_CLOSE_MS = 1000;

/**
 * Lets the load run for a while. This is a measurement window (how long traffic is observed), not
 * a wait for something to happen: those are waitFor() on a condition.
 */
export function loadFor(ms: number): Promise<void> {
  return delay(ms);
}

export async function json<T>(response: Response): Promise<T> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

export async function createList(origin: string): Promise<string> {
  const response = await fetch(`${origin}/api/lists`, { method: 'POST' });
  return (await json<{ id: string }>(response)).id;
}

export async function addTodo(origin: string, list: string, title: string): Promise<string> {
  const response = await fetch(`${origin}/api/lists/${list}/todos`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  return (await json<{ id: string }>(response)).id;
}

/** Lists of 20 todos that the load reads (as a user opening a list). */
export async function seedReadLists(origin: string, count: number, todos: number): Promise<string[]> {
  const lists: string[] = [];
  for (let index = 0; index < count; index++) {
    const list = await createList(origin);
    for (let todo = 0; todo < todos; todo++) await addTodo(origin, list, `read list ${index} todo ${todo}`);
    lists.push(list);
  }
  return lists;
}

/** The list's version (from its ETag) and todos, read through the Ingress. */
export async function readList(
  origin: string,
  list: string,
): Promise<{ version: number; todos: { id: string; title: string }[] }> {
  const response = await fetch(`${origin}/api/lists/${list}/todos`);
  const todos = await json<{ id: string; title: string }[]>(response);
  // The ETag is the list's revision, `<version>.<token>`.
  return { version: Number.parseInt(response.headers.get('etag')?.replaceAll('"', '') ?? '', 10), todos };
}

/**
 * Capacity of the whole path (nginx -> frontend -> backend -> Redis) for the scenarios' request mix:
 * the same users without pacing, as fast as answers come, after a warm-up.
 */
export async function measureCapacity(cluster: Cluster, readLists: string[]): Promise<number> {
  const writeLists = [await createList(cluster.origin), await createList(cluster.origin)];
  const load = new Load({ origin: cluster.origin, writeLists, readLists, users: USERS });
  load.start();
  await loadFor(1500); // warm-up: JIT, connection pools
  const from = performance.now();
  await loadFor(4000); // the measurement window
  const to = performance.now();
  await load.close();
  const window = between(load.records, from, to);
  const failed = window.filter((record) => !record.ok);
  if (failed.length > 0) throw new Error(`capacity run had ${failed.length} failed requests: ${failed[0]!.error}`);
  return window.length / ((to - from) / 1000);
}

export interface Phases {
  /** performance.now() marks: load start, event start, event end, load end. */
  start: number;
  eventStart: number;
  eventEnd: number;
  end: number;
}

export interface ScenarioResult {
  name: string;
  load: Load;
  records: RequestRecord[];
  phases: Phases;
  before: Figures;
  during: Figures;
  after: Figures;
  failures: RequestRecord[];
  sse: SseClient[];
  /** Version of each write list at the end, and what the clients knew. */
  versions: Map<string, number>;
  /** Acknowledged writes missing or wrong at the end (should be empty). */
  lostWrites: string[];
  acknowledged: number;
  reloads: number;
  /** Requests sent again after an nginx reload closed their idle keep-alive connection (as browsers do). */
  resent: RequestRecord[];
  /** Of those, the ones not near a reload (should be none: nothing else closes idle connections). */
  resentAwayFromReload: RequestRecord[];
}

/**
 * Runs `event` under load: fresh write lists with live-sync clients, load at `rate` for BEFORE_MS,
 * the event, AFTER_MS more, then stops the load and checks the store and the clients.
 */
export async function underLoad(
  cluster: Cluster,
  name: string,
  rate: number,
  readLists: string[],
  event: () => Promise<void>,
): Promise<ScenarioResult> {
  const origin = cluster.origin;
  const writeLists: string[] = [];
  for (let index = 0; index < WRITE_LISTS; index++) writeLists.push(await createList(origin));
  const sse = writeLists.flatMap((list) => Array.from({ length: SSE_PER_LIST }, () => new SseClient(origin, list)));
  for (const client of sse) client.start();
  await waitFor('the live-sync clients to connect', () => sse.every((client) => client.connects > 0), {
    timeoutMs: 10_000,
  });

  const reloadsBefore = cluster.nginx.reloads();
  const load = new Load({ origin, writeLists, readLists, users: USERS, rate });
  const start = performance.now();
  load.start();
  await loadFor(BEFORE_MS); // load before the event, for the "before" figures
  const eventStart = performance.now();
  await event();
  const eventEnd = performance.now();
  await loadFor(AFTER_MS); // load after the event, for the "after" figures
  await load.close();
  const end = performance.now();
  const reloads = cluster.nginx.reloads() - reloadsBefore;

  // The store: every acknowledged write is there (a later, unacknowledged write may have landed too).
  const versions = new Map<string, number>();
  const lostWrites: string[] = [];
  for (const list of writeLists) {
    const { version, todos } = await readList(origin, list);
    versions.set(list, version);
    const stored = new Map(todos.map((todo) => [todo.id, todo.title]));
    for (const [id, entry] of load.ledger.todos) {
      if (entry.list !== list) continue;
      const title = stored.get(id);
      if (title === undefined) lostWrites.push(`${id} (acknowledged "${entry.acked}") is missing`);
      else if (title !== entry.acked && !entry.pending.has(title)) {
        lostWrites.push(`${id} is "${title}", acknowledged "${entry.acked}"`);
      }
    }
  }
  // The clients: each must have seen every write of its list, by events or by refetching after a
  // gap or a reconnect. Nothing more is written now, so they are either there or never will be.
  await waitFor(
    'every live-sync client to have seen every write',
    () => sse.every((client) => client.known >= versions.get(client.listId)!),
    { timeoutMs: 15_000 },
  ).catch((error: Error) => {
    const behind = sse.filter((client) => client.known < versions.get(client.listId)!);
    throw new Error(
      `${error.message}: ${behind.length} behind, e.g. known ${behind[0]?.known} of ${versions.get(behind[0]?.listId ?? '')}`,
    );
  });
  for (const client of sse) await client.stop();

  const records = load.records;
  const resent = records.filter((record) => record.resent);
  const reloadTimes = cluster.nginx.reloadTimes;
  const nearReload = (record: RequestRecord) =>
    reloadTimes.some((reload) => record.end >= reload.start && record.start <= reload.end + RELOAD_CLOSE_MS);
  const seconds = (from: number, to: number) => (to - from) / 1000;
  return {
    name,
    load,
    records,
    phases: { start, eventStart, eventEnd, end },
    before: figures(between(records, start, eventStart), seconds(start, eventStart)),
    during: figures(between(records, eventStart, eventEnd), seconds(eventStart, eventEnd)),
    after: figures(between(records, eventEnd, end), seconds(eventEnd, end)),
    failures: records.filter((record) => !record.ok),
    sse,
    versions,
    lostWrites,
    acknowledged: load.ledger.acknowledged,
    reloads,
    resent,
    resentAwayFromReload: resent.filter((record) => !nearReload(record)),
  };
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '-');

/** The figures of a scenario, printed for the CI log. */
export function report(result: ScenarioResult, extra: Record<string, string | number> = {}): string {
  const { before, during, after, phases, sse } = result;
  const reconnects = sse.reduce((sum, client) => sum + client.connects - 1, 0);
  const lines = [
    `[rollout] ${result.name}`,
    `  requests ${result.records.length} (before ${before.requests}, during ${during.requests}, after ${after.requests}), failed ${result.failures.length}`,
    `  latency ms p50/p99: before ${ms(before.p50)}/${ms(before.p99)}, during ${ms(during.p50)}/${ms(during.p99)}, after ${ms(after.p50)}/${ms(after.p99)}`,
    `  rate req/s: before ${before.rate.toFixed(0)}, during ${during.rate.toFixed(0)}; event took ${((phases.eventEnd - phases.eventStart) / 1000).toFixed(1)} s; nginx reloads ${result.reloads}`,
    `  sent again after a reload closed an idle keep-alive connection (as browsers do): ${result.resent.length}, away from a reload: ${result.resentAwayFromReload.length}`,
    `  writes acknowledged ${result.acknowledged}, missing or wrong at the end ${result.lostWrites.length}`,
    `  live-sync: ${sse.length} clients, ${reconnects} reconnects, ${sse.reduce((s, c) => s + c.changeEvents, 0)} change events, ${sse.reduce((s, c) => s + c.refetches, 0)} refetches, all caught up`,
    ...Object.entries(extra).map(([key, value]) => `  ${key}: ${value}`),
  ];
  if (result.failures.length > 0) {
    const kinds = new Map<string, number>();
    for (const failure of result.failures) {
      const key = `${failure.route}: ${failure.error ?? failure.status}`;
      kinds.set(key, (kinds.get(key) ?? 0) + 1);
    }
    lines.push('  failures by kind:', ...[...kinds].map(([key, count]) => `    ${count} x ${key.slice(0, 200)}`));
  }
  return lines.join('\n');
}
