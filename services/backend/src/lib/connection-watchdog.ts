import type { Redis } from 'ioredis';

export interface WatchdogOptions {
  /** How often the connection is asked for a PING. */
  intervalMs: number;
  /** A PING (or a handshake) not answered within this long counts as a miss. */
  timeoutMs: number;
  /** Called just before a connection is dropped and reconnected. */
  onReplace: (reason: string) => void;
}

/** Misses in a row before the connection is replaced: one slow answer is not a dead server. */
const MISSES_TO_REPLACE = 2;

/**
 * Replaces a Redis connection that stops answering without closing: a node that is lost without a
 * FIN or RST (power, network partition, a frozen VM). ioredis's commandTimeout fails each command
 * but keeps the socket, and TCP only gives up after its retransmissions (~15 min), so every request
 * and readiness would fail for that long while a healthy Redis may already be reachable again.
 * Every interval: a PING, or a check that a handshake in progress has not stalled; after
 * MISSES_TO_REPLACE misses the socket is dropped and ioredis connects anew (with its backoff).
 * Returns a function that stops the watch.
 */
export function watchConnection(client: Redis, options: WatchdogOptions): () => void {
  let misses = 0;
  let probing = false;
  let handshakeSince: number | undefined;

  const replace = (reason: string) => {
    misses = 0;
    handshakeSince = undefined;
    options.onReplace(reason);
    client.disconnect(true);
  };

  const check = async () => {
    if (client.status === 'connect') {
      // TCP is up but the handshake (HELLO, AUTH, the ready check) has no answer yet.
      handshakeSince ??= Date.now();
      if (Date.now() - handshakeSince > options.timeoutMs * MISSES_TO_REPLACE) replace('handshake unanswered');
      return;
    }
    handshakeSince = undefined;
    if (client.status !== 'ready' || probing) return;
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
    if (answered || client.status !== 'ready') {
      misses = 0;
      return;
    }
    if (++misses >= MISSES_TO_REPLACE) replace('ping unanswered');
  };

  const interval = setInterval(() => void check(), options.intervalMs);
  interval.unref();
  return () => clearInterval(interval);
}
