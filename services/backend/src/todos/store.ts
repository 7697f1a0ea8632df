import { newToken } from '../lib/ids.ts';
import type { RedisClient } from '../redis/client.ts';
import { classifyRedisError } from '../redis/errors.ts';
import { type ReplicaWait, Script } from '../redis/script.ts';
import * as lua from './lua.ts';

/** A todo as stored: the API shape without `url`, plus `seq` (creation order within the list). */
export interface StoredTodo {
  id: string;
  title: string;
  completed: boolean;
  order?: number;
  createdAt: string;
  updatedAt: string;
  seq: number;
  /** Replaced by every change of this todo: its ETag. Missing on todos not changed since it was added. */
  rev?: string;
}

interface StoredList {
  id: string;
  createdAt: string;
  version: number;
  /** `<version>.<token of the last write>`: names one state of the list, even after Redis went back in time. */
  revision: string;
  todoCount: number;
}

/** The limits every write is checked against (inside its script, so replicas cannot race past them). */
export interface StoreLimits {
  maxTodos: number;
  /** The sum of a list's todos as stored (JSON bytes). */
  maxListBytes: number;
  /** A list without todos expires this long after its last change; 0 = never. */
  emptyListTtlSeconds: number;
}

/**
 * A PATCH or DELETE precondition: undefined = none (last write wins), '*' = the todo exists,
 * otherwise the strong ETag values (without quotes) of which one must be the todo's.
 */
export type IfMatch = undefined | '*' | readonly string[];

export type TodoFields = { title?: string; completed?: boolean; order?: number };

export class NotFoundError extends Error {
  constructor(readonly what: 'list' | 'todo') {
    super(`${what} not found`);
  }
}

export class ListFullError extends Error {
  constructor(readonly limit: number) {
    super(`list is full (${limit} todos)`);
  }
}

export class ListTooBigError extends Error {
  constructor(readonly limitBytes: number) {
    super(`list would exceed ${limitBytes} bytes`);
  }
}

export class PreconditionFailedError extends Error {
  constructor() {
    super('the todo changed since the ETag given in If-Match');
  }
}

/** Called after every store operation: feeds the Redis latency and error metrics. */
export type StoreObserver = (operation: string, seconds: number, failed: boolean) => void;

function scriptsPublishingWith(publish: lua.PublishCommand) {
  return {
    createList: new Script('createList', lua.CREATE_LIST(publish), 1),
    createTodo: new Script('createTodo', lua.CREATE_TODO(publish), 2),
    updateTodo: new Script('updateTodo', lua.UPDATE_TODO(publish), 2),
    deleteTodo: new Script('deleteTodo', lua.DELETE_TODO(publish), 2),
    clearTodos: new Script('clearTodos', lua.CLEAR_TODOS(publish), 2),
    readTodos: new Script('readTodos', lua.READ_TODOS, 2),
    readTodo: new Script('readTodo', lua.READ_TODO, 2),
    readList: new Script('readList', lua.READ_LIST, 2),
  };
}

const scriptSets = { PUBLISH: scriptsPublishingWith('PUBLISH'), SPUBLISH: scriptsPublishingWith('SPUBLISH') };
type Scripts = ReturnType<typeof scriptsPublishingWith>;

/** How the store reaches Redis: the client, how scripts publish, and whether writes wait for replicas. */
export interface StoreRedis {
  client: RedisClient;
  publish: lua.PublishCommand;
  /** Writes are answered once this many replicas have them (cluster mode's durability choice). */
  replicaWait?: ReplicaWait;
}

// Our tokens are base64url; a tag with any other character cannot match, nor break the list below.
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** The If-Match condition as the scripts take it: '', '*' or ',tag1,tag2,' (',' matches nothing). */
function ifMatchArg(ifMatch: IfMatch): string {
  if (ifMatch === undefined || ifMatch === '*') return ifMatch ?? '';
  return `,${ifMatch
    .filter((tag) => TOKEN.test(tag))
    .map((tag) => `${tag},`)
    .join('')}`;
}

/** Every list operation, each one atomic and one Redis round trip. */
export class TodoStore {
  private readonly redis: RedisClient;
  private readonly scripts: Scripts;
  private readonly writes: ReadonlySet<Script>;
  private readonly replicaWait: ReplicaWait | undefined;

  constructor(
    redis: StoreRedis,
    private readonly prefix: string,
    private readonly limits: StoreLimits,
    private readonly observe: StoreObserver = () => {},
  ) {
    this.redis = redis.client;
    this.replicaWait = redis.replicaWait?.replicas ? redis.replicaWait : undefined;
    this.scripts = scriptSets[redis.publish];
    const { createList, createTodo, updateTodo, deleteTodo, clearTodos } = this.scripts;
    this.writes = new Set([createList, createTodo, updateTodo, deleteTodo, clearTodos]);
  }

  /** The pub/sub channel on which every change of a list is published. */
  channel(listId: string): string {
    return `${this.prefix}events:{${listId}}`;
  }

  // Hash tags keep a list's keys (and its channel) in one slot: on Redis Cluster a script may only
  // touch keys of one slot, and SPUBLISH only to a channel of that slot.
  private keys(listId: string): [string, string] {
    return [`${this.prefix}list:{${listId}}`, `${this.prefix}todos:{${listId}}`];
  }

  private async run(script: Script, listId: string, args: Array<string | number>): Promise<unknown> {
    const keys = this.keys(listId);
    const started = performance.now();
    try {
      const scriptKeys = script === this.scripts.createList ? keys.slice(0, 1) : keys;
      const result =
        this.replicaWait && this.writes.has(script)
          ? await script.runAndWait(this.redis, scriptKeys, args, this.replicaWait)
          : await script.run(this.redis, scriptKeys, args);
      this.observe(script.name, (performance.now() - started) / 1000, false);
      return result;
    } catch (error) {
      this.observe(script.name, (performance.now() - started) / 1000, true);
      throw classifyRedisError(error);
    }
  }

  async createList(listId: string, createdAt: string): Promise<boolean> {
    return (
      (await this.run(this.scripts.createList, listId, [createdAt, newToken(), this.limits.emptyListTtlSeconds])) === 1
    );
  }

  async readList(listId: string): Promise<StoredList> {
    const reply = (await this.run(this.scripts.readList, listId, [])) as [string | number, number, number, string];
    if (reply[0] === -1) throw new NotFoundError('list');
    return { id: listId, createdAt: String(reply[0]), version: reply[1], todoCount: reply[2], revision: reply[3] };
  }

  /**
   * The list's revision and, unless `knownRevision` is the current one (the caller's cached copy
   * is then current and Redis sends no todos), its todos as stored: JSON, unsorted. The read path
   * (read.ts) builds the API's body from them, once per revision.
   */
  async readTodos(listId: string, knownRevision?: string): Promise<{ revision: string; rows?: string[] }> {
    const reply = (await this.run(this.scripts.readTodos, listId, [knownRevision ?? ''])) as [
      string | number,
      ...string[],
    ];
    if (reply[0] === -1) throw new NotFoundError('list');
    const revision = String(reply[0]);
    if (reply.length === 1 && knownRevision === revision) return { revision };
    return { revision, rows: reply.slice(1) as string[] };
  }

  async readTodo(listId: string, todoId: string): Promise<StoredTodo> {
    const reply = (await this.run(this.scripts.readTodo, listId, [todoId])) as [number, string?];
    this.throwIfRefused(reply[0]);
    return JSON.parse(reply[1] as string) as StoredTodo;
  }

  async createTodo(
    listId: string,
    todoId: string,
    fields: Required<Pick<TodoFields, 'title'>> & TodoFields,
    now: string,
  ) {
    const reply = (await this.run(this.scripts.createTodo, listId, [
      todoId,
      fields.title,
      fields.completed ? '1' : '0',
      fields.order === undefined ? '' : String(fields.order),
      now,
      this.limits.maxTodos,
      this.channel(listId),
      newToken(),
      this.limits.maxListBytes,
    ])) as [string | number, string?];
    this.throwIfRefused(reply[0]);
    return { revision: String(reply[0]), todo: JSON.parse(reply[1] as string) as StoredTodo };
  }

  async updateTodo(listId: string, todoId: string, patch: TodoFields, now: string, ifMatch?: IfMatch) {
    const reply = (await this.run(this.scripts.updateTodo, listId, [
      todoId,
      JSON.stringify(patch),
      now,
      this.channel(listId),
      newToken(),
      this.limits.maxListBytes,
      ifMatchArg(ifMatch),
    ])) as [string | number, string?];
    this.throwIfRefused(reply[0]);
    return { revision: String(reply[0]), todo: JSON.parse(reply[1] as string) as StoredTodo };
  }

  /** Answers the list's new revision. */
  async deleteTodo(listId: string, todoId: string, ifMatch?: IfMatch): Promise<string> {
    const reply = (await this.run(this.scripts.deleteTodo, listId, [
      todoId,
      this.channel(listId),
      newToken(),
      ifMatchArg(ifMatch),
      this.limits.emptyListTtlSeconds,
    ])) as [string | number];
    this.throwIfRefused(reply[0]);
    return String(reply[0]);
  }

  /** Answers the list's new revision. */
  async clearTodos(listId: string): Promise<string> {
    const reply = (await this.run(this.scripts.clearTodos, listId, [
      this.channel(listId),
      newToken(),
      this.limits.emptyListTtlSeconds,
    ])) as [string | number];
    this.throwIfRefused(reply[0]);
    return String(reply[0]);
  }

  private throwIfRefused(code: string | number): void {
    if (code === -1) throw new NotFoundError('list');
    if (code === -2) throw new ListFullError(this.limits.maxTodos);
    if (code === -3) throw new NotFoundError('todo');
    if (code === -4) throw new ListTooBigError(this.limits.maxListBytes);
    if (code === -5) throw new PreconditionFailedError();
  }
}
