import type { FastifyBaseLogger } from 'fastify';
import type { ChangeFeed } from '../redis/client.ts';

type Listener = (message: string) => void;

/**
 * Fans Redis pub/sub messages out to the local event streams. One SUBSCRIBE (SSUBSCRIBE on a
 * cluster) per list that has at least one open stream on this replica, so a replica only hears
 * about lists it serves.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly resyncHandlers = new Set<() => void>();
  /** Each channel's SUBSCRIBE, while or once Redis confirmed it; streams that come meanwhile wait on it. */
  private readonly confirmations = new Map<string, Promise<void>>();
  private resyncs = 0;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly log: FastifyBaseLogger,
  ) {
    feed.onMessage((channel, message) => {
      const set = this.listeners.get(channel);
      if (set) for (const listener of set) listener(message);
    });
    // Messages published while the subscription was down are lost: tell streams to resync.
    feed.onInterrupted(() => {
      this.resyncs++;
      for (const handler of this.resyncHandlers) handler();
    });
  }

  get channelCount(): number {
    return this.listeners.size;
  }

  /**
   * How many times the subscription was interrupted. A stream whose setup spans an interruption
   * may have missed events and was not there to be ended by the resync handlers: its setup
   * compares this before and after.
   */
  get epoch(): number {
    return this.resyncs;
  }

  /** Registers a handler called when the subscription was interrupted and events may be missing. */
  onResync(handler: () => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  /** Local listeners over all channels (what open streams hold). */
  get listenerCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  /**
   * Adds a listener to a channel; resolves with its removal once Redis confirmed the SUBSCRIBE.
   * Rejects (with the listener removed) when the SUBSCRIBE fails, takes longer than `timeoutMs`
   * (the subscriber connection has no command timeout: it waits through reconnects), or `signal`
   * aborts first, so that a caller never waits without bound and never leaves a listener behind.
   */
  async subscribe(
    channel: string,
    listener: Listener,
    { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<() => void> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    let removed = false;
    const remove = () => {
      if (removed) return;
      removed = true;
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      this.confirmations.delete(channel);
      this.feed.unsubscribe(channel).catch((error: Error) => {
        this.log.debug({ err: { message: error.message } }, 'unsubscribe failed');
      });
    };

    let confirmed = this.confirmations.get(channel);
    if (!confirmed) {
      confirmed = this.feed.subscribe(channel).then(() => {});
      const mine = confirmed;
      this.confirmations.set(channel, mine);
      // A failed SUBSCRIBE is retried by the next stream that comes for the channel.
      mine.catch(() => {
        if (this.confirmations.get(channel) === mine) this.confirmations.delete(channel);
      });
    }

    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        confirmed,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new SubscribeError(`SUBSCRIBE took over ${timeoutMs} ms`)), timeoutMs);
          onAbort = () => reject(new SubscribeError('the client left'));
          if (signal?.aborted) onAbort();
          else signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } catch (error) {
      remove();
      throw error instanceof SubscribeError ? error : new SubscribeError('SUBSCRIBE failed', { cause: error });
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    return remove;
  }
}

/** The change events of a list could not be subscribed to (now): the stream cannot start. */
export class SubscribeError extends Error {
  override name = 'SubscribeError';
}
