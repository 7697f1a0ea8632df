import type { Redis } from 'ioredis';
import { classifyRedisError } from './errors.ts';
import * as lua from './lua.ts';
import { Script } from './script.ts';

/** A todo as stored: the API shape without `url`, plus `seq` (creation order within the list). */
export interface StoredTodo {
  id: string;
  title: string;
  completed: boolean;
  order?: number;
  createdAt: string;
  updatedAt: string;
  seq: number;
}

export interface StoredList {
  id: string;
  createdAt: string;
  version: number;
  todoCount: number;
}

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

/** Called after every store operation: feeds the Redis latency and error metrics. */
export type StoreObserver = (operation: string, seconds: number, failed: boolean) => void;

const scripts = {
  createList: new Script('createList', lua.CREATE_LIST, 1),
  createTodo: new Script('createTodo', lua.CREATE_TODO, 2),
  updateTodo: new Script('updateTodo', lua.UPDATE_TODO, 2),
  deleteTodo: new Script('deleteTodo', lua.DELETE_TODO, 2),
  clearTodos: new Script('clearTodos', lua.CLEAR_TODOS, 2),
  readTodos: new Script('readTodos', lua.READ_TODOS, 2),
  readTodo: new Script('readTodo', lua.READ_TODO, 2),
  readList: new Script('readList', lua.READ_LIST, 2),
};

/** Sorts as the API promises: by `order` (todos without one last), then creation. */
export function compareTodos(a: StoredTodo, b: StoredTodo): number {
  const ao = a.order ?? Number.POSITIVE_INFINITY;
  const bo = b.order ?? Number.POSITIVE_INFINITY;
  if (ao !== bo) return ao < bo ? -1 : 1;
  return a.seq - b.seq;
}

/** Stored todos (as readTodos returns them) in the API's order. */
export function parseTodos(rows: readonly string[]): StoredTodo[] {
  const todos = rows.map((row) => JSON.parse(row) as StoredTodo);
  return todos.sort(compareTodos);
}

/** Every list operation, each one atomic and one Redis round trip. */
export class TodoStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly maxTodos: number,
    private readonly observe: StoreObserver = () => {},
  ) {}

  /** The pub/sub channel on which every change of a list is published. */
  channel(listId: string): string {
    return `${this.prefix}events:{${listId}}`;
  }

  // Hash tags keep a list's keys in one slot, should this ever run on Redis Cluster.
  private keys(listId: string): [string, string] {
    return [`${this.prefix}list:{${listId}}`, `${this.prefix}todos:{${listId}}`];
  }

  private async run(script: Script, listId: string, args: Array<string | number>): Promise<unknown> {
    const keys = this.keys(listId);
    const started = performance.now();
    try {
      const result = await script.run(this.redis, script === scripts.createList ? keys.slice(0, 1) : keys, args);
      this.observe(script.name, (performance.now() - started) / 1000, false);
      return result;
    } catch (error) {
      this.observe(script.name, (performance.now() - started) / 1000, true);
      throw classifyRedisError(error);
    }
  }

  async createList(listId: string, createdAt: string): Promise<boolean> {
    return (await this.run(scripts.createList, listId, [createdAt])) === 1;
  }

  async readList(listId: string): Promise<StoredList> {
    const reply = (await this.run(scripts.readList, listId, [])) as [string | number, number, number];
    if (reply[0] === -1) throw new NotFoundError('list');
    return { id: listId, createdAt: String(reply[0]), version: reply[1], todoCount: reply[2] };
  }

  /**
   * The list's version and, unless `knownVersion` is the current one (the caller's cached copy is
   * then current and Redis sends no todos), its todos as stored: JSON, unsorted. `parseTodos`
   * turns them into the API's order; it is left to the caller because a concurrent request may
   * already have built the body for this version.
   */
  async readTodos(listId: string, knownVersion?: number): Promise<{ version: number; rows?: string[] }> {
    const reply = (await this.run(scripts.readTodos, listId, [knownVersion ?? ''])) as [number, ...string[]];
    const version = reply[0];
    if (version === -1) throw new NotFoundError('list');
    if (reply.length === 1 && knownVersion === version) return { version };
    return { version, rows: reply.slice(1) as string[] };
  }

  async readTodo(listId: string, todoId: string): Promise<StoredTodo> {
    const reply = (await this.run(scripts.readTodo, listId, [todoId])) as [number, string?];
    this.throwIfMissing(reply[0]);
    return JSON.parse(reply[1] as string) as StoredTodo;
  }

  async createTodo(
    listId: string,
    todoId: string,
    fields: Required<Pick<TodoFields, 'title'>> & TodoFields,
    now: string,
  ) {
    const reply = (await this.run(scripts.createTodo, listId, [
      todoId,
      fields.title,
      fields.completed ? '1' : '0',
      fields.order === undefined ? '' : String(fields.order),
      now,
      this.maxTodos,
      this.channel(listId),
    ])) as [number, string?];
    this.throwIfMissing(reply[0]);
    return { version: reply[0], todo: JSON.parse(reply[1] as string) as StoredTodo };
  }

  async updateTodo(listId: string, todoId: string, patch: TodoFields, now: string) {
    const reply = (await this.run(scripts.updateTodo, listId, [
      todoId,
      JSON.stringify(patch),
      now,
      this.channel(listId),
    ])) as [number, string?];
    this.throwIfMissing(reply[0]);
    return { version: reply[0], todo: JSON.parse(reply[1] as string) as StoredTodo };
  }

  async deleteTodo(listId: string, todoId: string): Promise<number> {
    const reply = (await this.run(scripts.deleteTodo, listId, [todoId, this.channel(listId)])) as [number];
    this.throwIfMissing(reply[0]);
    return reply[0];
  }

  async clearTodos(listId: string): Promise<number> {
    const reply = (await this.run(scripts.clearTodos, listId, [this.channel(listId)])) as [number];
    this.throwIfMissing(reply[0]);
    return reply[0];
  }

  private throwIfMissing(code: number): void {
    if (code === -1) throw new NotFoundError('list');
    if (code === -2) throw new ListFullError(this.maxTodos);
    if (code === -3) throw new NotFoundError('todo');
  }
}
