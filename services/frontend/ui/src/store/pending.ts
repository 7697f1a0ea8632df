import type { Todo } from '@tasktier/contract';
import { apply, type Op, type ViewTodo } from './ops.ts';

export interface Entry {
  op: Op;
  /** The number of refreshes started when the server confirmed it; undefined while pending. */
  confirmedAt?: number;
}

/** A todo that could not be saved because its list could not be created. */
export class NotCreated extends Error {
  constructor(
    readonly title: string,
    readonly reason: unknown,
  ) {
    super('the list could not be created');
  }
}

/**
 * This browser's writes not yet in the server's snapshot, with the temporary ids of todos not yet
 * created: each shows at once over the snapshot, is sent after every earlier write, stays shown
 * until a refresh started after the server confirmed it, and disappears if refused (a todo
 * refused goes back to the input: see `returned`).
 */
export class PendingWrites {
  private entries: Entry[] = [];
  private nextTemp = 0;
  private readonly realIds = new Map<string, string>();
  private readonly tempKeys = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private given: string[] = [];

  /** An id for a todo not created yet. */
  tempId(): string {
    return `tmp-${++this.nextTemp}`;
  }

  /** The todo with this temporary id was created, and has this id. */
  created(tempId: string, realId: string): void {
    this.realIds.set(tempId, realId);
    this.tempKeys.set(realId, tempId);
  }

  /** A temporary id becomes the real one once its POST succeeded; undefined if that failed. */
  resolve(id: string): string | undefined {
    if (!id.startsWith('tmp-')) return id;
    return this.realIds.get(id);
  }

  /** Shows `op` at once; `send` runs once every earlier write has been sent (or refused). */
  add(op: Op, send: (entry: Entry) => Promise<void>): void {
    const entry: Entry = { op };
    this.entries.push(entry);
    this.queue = this.queue.then(() => send(entry));
  }

  /** The server confirmed it; refreshes started from now on include it. */
  confirmed(entry: Entry, refreshesStarted: number): void {
    entry.confirmedAt = refreshesStarted;
  }

  /** Refused or not delivered: dropped from the view; a todo typed is not lost, it goes back to the input. */
  refused(entry: Entry): void {
    this.entries = this.entries.filter((e) => e !== entry);
    if (entry.op.kind === 'add') this.given = [...this.given, entry.op.title];
  }

  /** A snapshot asked for as refresh number `started` arrived: the writes confirmed before it are in it. */
  settled(started: number): void {
    this.entries = this.entries.filter((e) => e.confirmedAt === undefined || e.confirmedAt >= started);
  }

  /** The titles of todos that could not be saved, in the order they were typed. */
  get returned(): readonly string[] {
    return this.given;
  }

  /** The titles given back since the last call, now taken by the input. */
  takeReturned(): string[] {
    const titles = this.given;
    this.given = [];
    return titles;
  }

  /** The server's snapshot with these writes on top. */
  view(server: Todo[]): ViewTodo[] {
    let todos: ViewTodo[] = server.map((todo) => ({
      id: todo.id,
      key: this.tempKeys.get(todo.id) ?? todo.id,
      title: todo.title,
      completed: todo.completed,
    }));
    for (const { op } of this.entries) todos = apply(todos, op);
    return todos;
  }
}
