import type { TodoStore } from './store.ts';
import { parseTodos, todoView } from './view.ts';

/**
 * The read path of a list (GET /todos): asks the store for the list's revision, and builds the
 * body (the todos in the API's order and view, as JSON bytes) once per revision, kept in a cache.
 */
export class ListReader {
  private readonly cache = new ListBodyCache();

  constructor(private readonly store: TodoStore) {}

  /**
   * The list's current revision and its body. Redis says which revision is current, so the body
   * is never stale, even when Redis went back in time (the revision's token differs then). After a
   * write, several reads get the new revision's todos at once: the first builds the body, the
   * others find it in the cache when their reply arrives.
   */
  async read(listId: string, listUrl: string): Promise<CachedBody> {
    const cached = this.cache.get(listUrl);
    const ticket = this.cache.ticket();
    const { revision, rows } = await this.store.readTodos(listId, cached?.revision);
    if (!rows) return { revision, body: cached?.body ?? EMPTY };
    const now = this.cache.get(listUrl);
    if (now?.revision === revision) return now;
    // Kept as UTF-8 bytes, so a cached body is not encoded again for every response.
    const body = Buffer.from(JSON.stringify(parseTodos(rows).map((todo) => todoView(todo, listUrl))));
    this.cache.set(listUrl, revision, body, ticket);
    return { revision, body };
  }
}

const EMPTY = Buffer.alloc(0);

/** A cached list body and the revision of the list it was built from. */
export interface CachedBody {
  revision: string;
  body: Buffer;
}

/**
 * Serialized list bodies keyed by list and public base URL, each tagged with the list revision it
 * was built from. Redis holds the revision, and every read asks Redis whether it is still current
 * (in the same round trip that would fetch the todos), so a cached body is never served for a
 * state Redis no longer has, whichever replica made the last write and even after Redis went back
 * in time (a restore, writes lost in a crash): a revision names one state only.
 *
 * "Newer" is the order in which this replica asked Redis, not the version number, which goes back
 * with a restore: a body replaces the cached one unless the cached one came from a read this
 * replica sent later (`ticket()`), so a slow reply cannot put back what a later one replaced, and
 * the body for the revision Redis last named is the one kept, whatever its version.
 *
 * Bounded by bytes, not entries: big lists are cached too (rebuilding a 10,000-todo body for every
 * read cost ~25 ms of CPU and made such reads queue up under load; docs/performance.md), but a
 * replica never pins more than `maxBytes` of bodies. The oldest entries go first.
 */
export class ListBodyCache {
  private readonly entries = new Map<string, CachedBody & { ticket: number }>();
  private bytes = 0;
  private tickets = 0;

  constructor(
    private readonly maxBytes = 16 * 1024 * 1024,
    private readonly maxBodyBytes = 4 * 1024 * 1024,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Bytes held (bodies and keys). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Taken just before asking Redis: orders the answers, later reads get bigger tickets. */
  ticket(): number {
    this.tickets += 1;
    return this.tickets;
  }

  get(key: string): CachedBody | undefined {
    return this.entries.get(key);
  }

  /**
   * Keeps `body` for `revision`, as Redis named it to the read that took `ticket`, unless the
   * cached body came from a later read. Without a ticket, the body is kept as the latest.
   */
  set(key: string, revision: string, body: Buffer, ticket = this.ticket()): void {
    const current = this.entries.get(key);
    if (current && current.ticket > ticket) return;
    this.delete(key);
    if (body.length > this.maxBodyBytes) return;
    this.entries.set(key, { revision, body, ticket });
    this.bytes += body.length + key.length;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.body.length + key.length;
  }
}
