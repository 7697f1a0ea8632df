/**
 * Serialized list bodies keyed by list and public base URL, each tagged with the list version it
 * was built from. Redis holds the version, and every read asks Redis whether it is still current
 * (in the same round trip that would fetch the todos), so a cached body is never stale, whichever
 * replica made the last write.
 *
 * Bounded by bytes, not entries: big lists are cached too (rebuilding a 10,000-todo body for every
 * read cost ~25 ms of CPU and made such reads queue up under load; docs/performance.md), but a
 * replica never pins more than `maxBytes` of bodies. The oldest entries go first.
 */
export class ListBodyCache {
  private readonly entries = new Map<string, { version: number; body: Buffer }>();
  private bytes = 0;

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

  get(key: string): { version: number; body: Buffer } | undefined {
    return this.entries.get(key);
  }

  set(key: string, version: number, body: Buffer): void {
    this.delete(key);
    if (body.length > this.maxBodyBytes) return;
    this.entries.set(key, { version, body });
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
