import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `check` until it returns a truthy value (which is returned) or `timeoutMs` passes.
 * This is how tests await a condition instead of sleeping a guessed time.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  { timeoutMs = 10_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await delay(intervalMs);
  }
}

/** Waits until `url` answers with `status` (default 200). */
export async function waitForHttp(url: string, { status = 200, timeoutMs = 15_000 } = {}): Promise<void> {
  await waitFor(
    `${url} to answer ${status}`,
    async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return response.status === status;
    },
    { timeoutMs },
  );
}
