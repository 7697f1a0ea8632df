/**
 * Serialized list bodies keyed by list and public base URL, each tagged with the list version it
 * was built from. Redis holds the version, and every read asks Redis whether it is still current
 * (in the same round trip that would fetch the todos), so a cached body is never stale, whichever
 * replica made the last write.
 */
export class ListBodyCache {
  private readonly entries = new Map<string, { version: number; body: string }>();

  constructor(private readonly maxEntries = 2000) {}

  get(key: string): { version: number; body: string } | undefined {
    return this.entries.get(key);
  }

  set(key: string, version: number, body: string): void {
    // Bodies of huge lists are cheap to rebuild relative to the memory they would pin.
    if (body.length > 256 * 1024) return;
    this.entries.delete(key);
    this.entries.set(key, { version, body });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}
