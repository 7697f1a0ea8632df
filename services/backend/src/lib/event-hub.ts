import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

type Listener = (message: string) => void;

/**
 * Fans Redis pub/sub messages out to the local event streams. One SUBSCRIBE per list that has at
 * least one open stream on this replica, so a replica only hears about lists it serves.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly resyncHandlers = new Set<() => void>();
  private connectedOnce = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly log: FastifyBaseLogger,
  ) {
    subscriber.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (set) for (const listener of set) listener(message);
    });
    // Messages published while the subscription was down are lost: tell streams to resync.
    subscriber.on('ready', () => {
      if (this.connectedOnce) for (const handler of this.resyncHandlers) handler();
      this.connectedOnce = true;
    });
  }

  get channelCount(): number {
    return this.listeners.size;
  }

  /** Registers a handler called when the subscription was interrupted and events may be missing. */
  onResync(handler: () => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  async subscribe(channel: string, listener: Listener): Promise<() => void> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      try {
        await this.subscriber.subscribe(channel);
      } catch (error) {
        this.listeners.delete(channel);
        throw error;
      }
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(channel);
        this.subscriber.unsubscribe(channel).catch((error: Error) => {
          this.log.debug({ err: { message: error.message } }, 'unsubscribe failed');
        });
      }
    };
  }
}
