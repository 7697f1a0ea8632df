import type { Redis } from 'ioredis';

export interface WatchdogOptions {
  /** How often the connection is asked for a PING. */
  intervalMs: number;
  /** A PING not answered within this long, with nothing at all read meanwhile, is a miss. */
  timeoutMs: number;
  /**
   * How long a handshake (HELLO, AUTH, the ready check) may go without a byte read. Longer than
   * ioredis's wait between ready checks while Redis loads its data, or a loading Redis would be
   * taken for a dead one.
   */
  handshakeTimeoutMs: number;
  /** Misses in a row before the connection is replaced: one slow answer is not a dead server. */
  missesToReplace: number;
  /** Called just before a connection is dropped and reconnected. */
  onReplace: (reason: string) => void;
}

/**
 * Replaces a Redis connection that stops answering without closing: a node that is lost without a
 * FIN or RST (power, network partition, a frozen VM). ioredis's commandTimeout fails each command
 * but keeps the socket, and TCP only gives up after its retransmissions (~15 min), so every request
 * and readiness would fail for that long while a healthy Redis may already be reachable again.
 *
 * Any byte read on the socket counts as an answer: a PING queued behind big replies on a busy
 * connection is late, but the server is alive. Every interval: a PING, or a check that a handshake
 * in progress has read something lately; after `missesToReplace` misses the socket is dropped and
 * ioredis connects anew (with its backoff). Returns a function that stops the watch.
 */
export function watchConnection(client: Redis, options: WatchdogOptions): () => void {
  let misses = 0;
  let probing = false;
  let watched: Redis['stream'] | undefined;
  let bytesRead = 0;
  let quietSince = Date.now();

  /** Whether the current socket read anything since the last look (a new socket: not yet). */
  const progressed = (): boolean => {
    const stream = client.stream;
    const read = stream?.bytesRead ?? 0;
    if (stream !== watched) {
      watched = stream;
      bytesRead = read;
      return false;
    }
    if (read === bytesRead) return false;
    bytesRead = read;
    return true;
  };

  const replace = (reason: string) => {
    misses = 0;
    options.onReplace(reason);
    client.disconnect(true);
  };

  const check = async () => {
    if (progressed()) quietSince = Date.now();
    if (client.status === 'connect') {
      if (Date.now() - quietSince > options.handshakeTimeoutMs) replace('handshake unanswered');
      return;
    }
    if (client.status !== 'ready' || probing) {
      quietSince = Date.now();
      return;
    }
    probing = true;
    let timer: NodeJS.Timeout | undefined;
    let replied = false;
    const answered = await Promise.race([
      client.ping().then(
        () => (replied = true),
        // A refused PING (an error reply) is an answer: the server is alive.
        (error: Error) => (replied = !/timed out/i.test(error.message)),
      ),
      new Promise<boolean>((resolve) => {
        // setImmediate: a reply already read by the event loop (a busy process, not a dead
        // server) is seen before this counts as a miss.
        timer = setTimeout(() => setImmediate(() => resolve(replied)), options.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    probing = false;
    if (answered || progressed() || client.status !== 'ready') {
      misses = 0;
      quietSince = Date.now();
      return;
    }
    if (++misses >= options.missesToReplace) replace('ping unanswered');
  };

  const interval = setInterval(() => void check(), options.intervalMs);
  interval.unref();
  return () => clearInterval(interval);
}
