import type { Todo } from '@tasktier/contract';
import { parseChangeEvent } from '@tasktier/contract/constants';
import * as api from './api.ts';
import { ApiError } from './api.ts';
import { openEventStream } from './event-stream.ts';
import type { NewList } from './new-list.ts';
import { apply, type Op, type ViewTodo } from './ops.ts';
import { jitter, NotBefore, retryDelay, waitAfter } from './retry.ts';
import { cleanTitle } from './title.ts';

export type { ViewTodo } from './ops.ts';

export type Notice =
  | { kind: 'offline' }
  /** Refused for now (rate limited, or the server at capacity): what happened and how long to wait. */
  | { kind: 'limited'; message: string }
  | { kind: 'error'; message: string }
  | { kind: 'not-found' }
  | undefined;

export interface State {
  /** Undefined while the list does not exist yet (a visit to `/`: its first todo creates it). */
  listId: string | undefined;
  todos: ViewTodo[];
  loaded: boolean;
  notice: Notice;
  /**
   * The titles of todos that could not be saved (refused, or the list could not be created), in
   * the order they were typed: the input gets them back (see takeReturned()).
   */
  returned: readonly string[];
}

interface Entry {
  op: Op;
  /** The number of refreshes started when the server confirmed it; undefined while pending. */
  confirmedAt?: number;
}

/** A stream that drops is usually back within its `retry:` delay; only then is it news. */
const OFFLINE_GRACE_MS = 3000;
/** Reconnect delay after a stream ended, when the server gave no `retry:` hint (EventSource's usual). */
const STREAM_RETRY_MS = 3000;
const ERROR_NOTICE_MS = 8000;

/** A todo that could not be saved because its list could not be created. */
class NotCreated extends Error {
  constructor(
    readonly title: string,
    readonly reason: unknown,
  ) {
    super('the list could not be created');
  }
}

/**
 * One shared list, kept in the backend. The view is the last server snapshot with this browser's
 * not-yet-confirmed changes applied on top, so edits show at once, a refresh never makes them
 * flicker, and a change the server refused disappears (with a message). Writes go out one at a
 * time, in order. Live sync: a change event (from any browser, via any backend replica) whose
 * revision is not the one shown, and every (re)connection, trigger a refresh; refreshes are
 * coalesced so a burst costs one or two. A list that does not exist yet shows empty at once and
 * is created by the first todo added.
 */
export class ListStore {
  private listId: string | undefined;
  private readonly newList: NewList | undefined;
  private server: Todo[] = [];
  /**
   * The revision of the snapshot shown. Compared for equality, never order: after a restore or a
   * lost write the version goes backwards, and that is news too.
   */
  private revision: string | undefined;
  private loaded = false;
  private entries: Entry[] = [];
  private nextTemp = 0;
  private readonly realIds = new Map<string, string>();
  private readonly tempKeys = new Map<string, string>();
  private writes: Promise<void> = Promise.resolve();

  private refreshing = false;
  private refreshWanted = false;
  private refreshesStarted = 0;
  private refreshFailures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by a refusal with Retry-After: until then a refresh is only marked wanted. */
  private readonly refreshNotBefore = new NotBefore();

  private closeStream: (() => void) | undefined;
  private streamUp = false;
  private reconnects = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private offlineTimer: ReturnType<typeof setTimeout> | undefined;
  private streamOffline = false;
  private requestsFailing = false;
  private notFound = false;
  private error: string | undefined;
  private errorTimer: ReturnType<typeof setTimeout> | undefined;
  private limited: string | undefined;
  private limitedTimer: ReturnType<typeof setTimeout> | undefined;
  private returned: string[] = [];

  private readonly listeners = new Set<() => void>();
  state: State;

  /** An existing list by its id, or one that does not exist yet. */
  constructor(list: string | NewList) {
    if (typeof list === 'string') this.listId = list;
    else this.newList = list;
    this.state = { listId: this.listId, todos: [], loaded: false, notice: undefined, returned: [] };
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.listId === undefined) {
      // Nothing to load: the empty list is all there is.
      this.loaded = true;
      this.render();
      return;
    }
    this.connect();
    this.refresh();
  }

  stop(): void {
    this.closeStream?.();
    for (const timer of [this.retryTimer, this.reconnectTimer, this.offlineTimer, this.errorTimer, this.limitedTimer]) {
      clearTimeout(timer);
    }
    this.refreshNotBefore.stop();
  }

  // ---- actions --------------------------------------------------------------------------------

  add(text: string): void {
    const title = cleanTitle(text);
    if (!title) return;
    const tempId = `tmp-${++this.nextTemp}`;
    this.write({ kind: 'add', tempId, title }, async (op) => {
      if (op.kind !== 'add') return;
      const listId = this.listId ?? (await this.create(op.title));
      const todo = await api.addTodo(listId, op.title);
      op.realId = todo.id;
      this.realIds.set(tempId, todo.id);
      this.tempKeys.set(todo.id, tempId);
    });
  }

  update(id: string, change: { title?: string; completed?: boolean }): void {
    const patch = change.title === undefined ? change : { ...change, title: cleanTitle(change.title) };
    if (patch.title === '') return;
    this.write({ kind: 'update', id, patch }, async () => {
      const realId = this.resolve(id);
      if (!realId || !this.listId) return;
      try {
        await api.updateTodo(this.listId, realId, patch);
      } catch (error) {
        // Deleted meanwhile by someone else: the refresh will show it gone.
        if (!(error instanceof ApiError && error.status === 404)) throw error;
      }
    });
  }

  remove(id: string): void {
    this.write({ kind: 'remove', ids: [id] }, async () => {
      const realId = this.resolve(id);
      if (realId && this.listId) await api.deleteTodo(this.listId, realId);
    });
  }

  clearCompleted(): void {
    const ids = this.state.todos.filter((todo) => todo.completed).map((todo) => todo.id);
    if (ids.length === 0) return;
    this.write({ kind: 'remove', ids }, () =>
      this.forEachReal(ids, (listId, realId) => api.deleteTodo(listId, realId)),
    );
  }

  setAllCompleted(completed: boolean): void {
    const ids = this.state.todos.filter((todo) => todo.completed !== completed).map((todo) => todo.id);
    if (ids.length === 0) return;
    this.write({ kind: 'set-completed', ids, completed }, () =>
      this.forEachReal(ids, (listId, realId) => api.updateTodo(listId, realId, { completed }).catch(ignoreNotFound)),
    );
  }

  dismissError(): void {
    this.setError(undefined);
  }

  /** The titles given back since the last call (state.returned), now taken by the input. */
  takeReturned(): string[] {
    const titles = this.returned;
    this.returned = [];
    return titles;
  }

  // ---- writes ---------------------------------------------------------------------------------

  /** Creates the list this page shows, for its first todo; live sync starts with it. */
  private async create(title: string): Promise<string> {
    try {
      if (!this.newList) throw new Error('no list to create');
      this.listId = await this.newList.create();
    } catch (error) {
      throw new NotCreated(title, error);
    }
    this.connect();
    this.render();
    return this.listId;
  }

  /** A temporary id becomes the real one once its POST succeeded; undefined if that failed. */
  private resolve(id: string): string | undefined {
    if (!id.startsWith('tmp-')) return id;
    return this.realIds.get(id);
  }

  private async forEachReal(ids: string[], run: (listId: string, realId: string) => Promise<void>): Promise<void> {
    const listId = this.listId;
    if (!listId) return;
    const real = ids.map((id) => this.resolve(id)).filter((id): id is string => id !== undefined);
    // A few at a time: enough to be quick, not so many that a big list floods the server.
    for (let i = 0; i < real.length; i += 8) {
      await Promise.all(real.slice(i, i + 8).map((realId) => run(listId, realId)));
    }
  }

  private write(op: Op, run: (op: Op) => Promise<void>): void {
    const entry: Entry = { op };
    this.entries.push(entry);
    this.render();
    this.writes = this.writes.then(async () => {
      try {
        await run(op);
        entry.confirmedAt = this.refreshesStarted;
        this.requestsOk();
        // With the stream up, the change event (ours, echoed) triggers the refresh.
        if (!this.streamUp) this.refresh();
      } catch (error) {
        // Refused or not delivered: drop it from the view and show the server's truth again.
        this.entries = this.entries.filter((e) => e !== entry);
        // A todo typed is not lost: it goes back to the input, to be sent again.
        if (op.kind === 'add') this.returned = [...this.returned, op.title];
        if (error instanceof NotCreated) this.notCreated(error);
        else this.failed(error, 'Your change could not be saved');
        this.refresh();
      }
    });
  }

  // ---- reading --------------------------------------------------------------------------------

  /** Fetches the list; if one fetch is under way, one more runs after it (coalescing bursts). */
  refresh(): void {
    if (this.listId === undefined) return;
    this.refreshWanted = true;
    // After a refusal with Retry-After, nothing asks before the wait is over: its timer does.
    if (this.refreshing || this.refreshNotBefore.waiting) return;
    this.refreshing = true;
    void this.refreshLoop();
  }

  private async refreshLoop(): Promise<void> {
    clearTimeout(this.retryTimer);
    const listId = this.listId;
    while (this.refreshWanted && listId) {
      this.refreshWanted = false;
      const started = ++this.refreshesStarted;
      try {
        const { todos, revision } = await api.getTodos(listId);
        this.server = todos;
        this.revision = revision;
        this.loaded = true;
        this.notFound = false;
        this.refreshFailures = 0;
        // Confirmed changes are in this snapshot if the server confirmed them before it was asked.
        this.entries = this.entries.filter((e) => e.confirmedAt === undefined || e.confirmedAt >= started);
        this.requestsOk();
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          this.notFound = true;
          this.closeStream?.();
          this.render();
          break;
        }
        const backoff = retryDelay(this.refreshFailures++);
        if (error instanceof ApiError && error.limited) {
          this.setLimited(error, (s) => `the list updates again in ${s}.`);
        } else {
          this.failed(error, 'The list could not be loaded');
        }
        if (error instanceof ApiError && error.retryAfter !== undefined) {
          this.refreshNotBefore.start(waitAfter(error, backoff), () => this.refresh());
        } else {
          // Not a refusal: a change event or a write that goes through may try sooner.
          this.retryTimer = setTimeout(() => this.refresh(), backoff);
        }
        break;
      }
    }
    this.refreshing = false;
  }

  // ---- live sync ------------------------------------------------------------------------------

  private connect(): void {
    const listId = this.listId;
    if (listId === undefined || this.notFound) return;
    this.closeStream?.();
    this.closeStream = openEventStream(api.eventsUrl(listId), {
      onEvent: (type, data) => {
        if (type === 'ready') this.onReady(data);
        else if (type === 'change') this.onChange(data);
      },
      onEnd: (retryMs) => {
        this.streamUp = false;
        if (this.notFound) return;
        // A server that drains ends streams on purpose, and we are back within its `retry:`
        // delay; only say something if it takes longer than that.
        clearTimeout(this.offlineTimer);
        this.offlineTimer = setTimeout(() => {
          if (!this.streamUp) this.setStreamOffline(true);
        }, OFFLINE_GRACE_MS);
        this.reconnectTimer = setTimeout(() => this.connect(), retryMs ?? jitter(STREAM_RETRY_MS));
      },
      onRefused: (error) => {
        this.streamUp = false;
        if (error.status === 404) {
          this.notFound = true;
          this.render();
          return;
        }
        // Refused (e.g. 502 while the backend is down, 429 over a limit): that is news at once.
        if (error.limited) this.setLimited(error, (s) => `live updates resume in ${s}.`);
        else this.setStreamOffline(true);
        this.reconnectTimer = setTimeout(() => this.connect(), waitAfter(error, retryDelay(this.reconnects++)));
      },
    });
  }

  private onReady(data: string): void {
    this.reconnects = 0;
    this.streamUp = true;
    this.setStreamOffline(false);
    // (Re)connected: whatever happened while we were away, catch up. The ready event ({version,
    // revision}) parses as a change event does.
    const revision = parseChangeEvent(data)?.revision;
    if (revision === undefined || revision !== this.revision || this.requestsFailing) this.refresh();
  }

  private onChange(data: string): void {
    // Without a revision (an older backend) every change is news.
    const revision = parseChangeEvent(data)?.revision;
    if (revision === undefined || revision !== this.revision) this.refresh();
  }

  // ---- status ---------------------------------------------------------------------------------

  private failed(error: unknown, what: string): void {
    if (error instanceof ApiError && error.limited) {
      this.setLimited(error, (s) => `try again in ${s}. ${what}.`);
    } else if (error instanceof ApiError && error.unavailable) {
      this.requestsFailing = true;
      this.render();
    } else {
      this.setError(`${what}: ${describe(error)}`);
    }
  }

  /**
   * Not "offline": with no list there is nothing to reconnect to and no retry that would clear
   * that notice, so say what happened once; the todo is back in the input.
   */
  private notCreated({ title, reason }: NotCreated): void {
    const what = `Your list could not be created, so “${title}” was not saved`;
    if (reason instanceof ApiError && reason.limited) this.setLimited(reason, (s) => `try again in ${s}. ${what}.`);
    else this.setError(`${what}: ${describe(reason)}`);
  }

  /** Refused for now: says so with the wait the server asked for, until that wait is over. */
  private setLimited(error: ApiError, then: (wait: string) => string): void {
    const seconds = error.retryAfter ?? 0;
    const why = error.status === 429 ? 'Too many requests from your network' : 'The server is busy';
    clearTimeout(this.limitedTimer);
    this.limited = `${why}: ${then(`${seconds} s`)}`;
    this.limitedTimer = setTimeout(() => {
      this.limited = undefined;
      this.render();
    }, seconds * 1000);
    this.render();
  }

  private requestsOk(): void {
    if (this.requestsFailing) {
      this.requestsFailing = false;
      // Back online: anything may have changed meanwhile.
      this.refresh();
    }
    this.render();
  }

  private setStreamOffline(offline: boolean): void {
    clearTimeout(this.offlineTimer);
    this.streamOffline = offline;
    this.render();
  }

  private setError(message: string | undefined): void {
    clearTimeout(this.errorTimer);
    this.error = message;
    if (message) this.errorTimer = setTimeout(() => this.setError(undefined), ERROR_NOTICE_MS);
    this.render();
  }

  private render(): void {
    let notice: Notice;
    if (this.notFound) notice = { kind: 'not-found' };
    else if (this.limited) notice = { kind: 'limited', message: this.limited };
    else if (this.requestsFailing || this.streamOffline) notice = { kind: 'offline' };
    else if (this.error) notice = { kind: 'error', message: this.error };
    this.state = { listId: this.listId, todos: this.view(), loaded: this.loaded, notice, returned: this.returned };
    for (const listener of this.listeners) listener();
  }

  private view(): ViewTodo[] {
    let todos: ViewTodo[] = this.server.map((todo) => ({
      id: todo.id,
      key: this.tempKeys.get(todo.id) ?? todo.id,
      title: todo.title,
      completed: todo.completed,
    }));
    for (const { op } of this.entries) todos = apply(todos, op);
    return todos;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof ApiError && error.status === 404)) throw error;
}
