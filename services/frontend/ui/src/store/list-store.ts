import type { Todo } from '@tasktier/contract';
import * as api from '../api.ts';
import { ApiError } from '../api.ts';
import type { NewList } from '../new-list.ts';
import { cleanTitle } from '../title.ts';
import { LiveSync } from './live-sync.ts';
import { type Notice, Notices } from './notices.ts';
import type { Op, ViewTodo } from './ops.ts';
import { type Entry, NotCreated, PendingWrites } from './pending.ts';
import { RefreshLoop } from './refresh.ts';

export type { Notice } from './notices.ts';
export type { ViewTodo } from './ops.ts';

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

/**
 * One shared list, kept in the backend. The view is the last server snapshot with this browser's
 * not-yet-confirmed changes applied on top (pending.ts), so edits show at once, a refresh never
 * makes them flicker, and a change the server refused disappears (with a message: notices.ts).
 * Writes go out one at a time, in order. Live sync (live-sync.ts): a change event (from any
 * browser, via any backend replica) whose revision is not the one shown, and every
 * (re)connection, trigger a refresh; refreshes are coalesced so a burst costs one or two
 * (refresh.ts). A list that does not exist yet shows empty at once and is created by the first
 * todo added.
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
  private readonly pending = new PendingWrites();
  private readonly notices = new Notices(() => this.render());
  private readonly refreshes = new RefreshLoop(() => this.listId, {
    loaded: (todos, revision, started) => {
      this.server = todos;
      this.revision = revision;
      this.loaded = true;
      this.notices.listFound();
      // Confirmed changes are in this snapshot if the server confirmed them before it was asked.
      this.pending.settled(started);
      this.requestsOk();
    },
    notFound: () => {
      this.live.close();
      this.notices.listNotFound();
    },
    failed: (error) => {
      if (error instanceof ApiError && error.limited) {
        this.notices.setLimited(error, (s) => `the list updates again in ${s}.`);
      } else {
        this.notices.failed(error, 'The list could not be loaded');
      }
    },
  });
  private readonly live = new LiveSync(() => this.listId, this.notices, {
    ready: (revision) => {
      // (Re)connected: whatever happened while we were away, catch up.
      if (revision === undefined || revision !== this.revision || this.notices.requestsFailing) this.refresh();
    },
    changed: (revision) => {
      // Without a revision (an older backend) every change is news.
      if (revision === undefined || revision !== this.revision) this.refresh();
    },
  });

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
    this.live.connect();
    this.refresh();
  }

  stop(): void {
    this.live.stop();
    this.refreshes.stop();
    this.notices.stop();
  }

  /** Fetches the list; if one fetch is under way, one more runs after it (coalescing bursts). */
  refresh(): void {
    this.refreshes.request();
  }

  // ---- actions --------------------------------------------------------------------------------

  add(text: string): void {
    const title = cleanTitle(text);
    if (!title) return;
    const tempId = this.pending.tempId();
    this.write({ kind: 'add', tempId, title }, async (op) => {
      if (op.kind !== 'add') return;
      const listId = this.listId ?? (await this.create(op.title));
      const todo = await api.addTodo(listId, op.title);
      op.realId = todo.id;
      this.pending.created(tempId, todo.id);
    });
  }

  update(id: string, change: { title?: string; completed?: boolean }): void {
    const patch = change.title === undefined ? change : { ...change, title: cleanTitle(change.title) };
    if (patch.title === '') return;
    this.write({ kind: 'update', id, patch }, async () => {
      const realId = this.pending.resolve(id);
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
      const realId = this.pending.resolve(id);
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
    this.notices.setError(undefined);
  }

  /** The titles given back since the last call (state.returned), now taken by the input. */
  takeReturned(): string[] {
    return this.pending.takeReturned();
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
    this.live.connect();
    this.render();
    return this.listId;
  }

  private async forEachReal(ids: string[], run: (listId: string, realId: string) => Promise<void>): Promise<void> {
    const listId = this.listId;
    if (!listId) return;
    const real = ids.map((id) => this.pending.resolve(id)).filter((id): id is string => id !== undefined);
    // A few at a time: enough to be quick, not so many that a big list floods the server.
    for (let i = 0; i < real.length; i += 8) {
      await Promise.all(real.slice(i, i + 8).map((realId) => run(listId, realId)));
    }
  }

  private write(op: Op, run: (op: Op) => Promise<void>): void {
    this.pending.add(op, async (entry: Entry) => {
      try {
        await run(op);
        this.pending.confirmed(entry, this.refreshes.started);
        this.requestsOk();
        // With the stream up, the change event (ours, echoed) triggers the refresh.
        if (!this.live.up) this.refresh();
      } catch (error) {
        // Refused or not delivered: drop it from the view and show the server's truth again.
        this.pending.refused(entry);
        if (error instanceof NotCreated) this.notices.notCreated(error.title, error.reason);
        else this.notices.failed(error, 'Your change could not be saved');
        this.refresh();
      }
    });
    this.render();
  }

  private requestsOk(): void {
    // Back online: anything may have changed meanwhile.
    if (this.notices.requestsOk()) this.refresh();
    this.render();
  }

  private render(): void {
    this.state = {
      listId: this.listId,
      todos: this.pending.view(this.server),
      loaded: this.loaded,
      notice: this.notices.notice,
      returned: this.pending.returned,
    };
    for (const listener of this.listeners) listener();
  }
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof ApiError && error.status === 404)) throw error;
}
