import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addTodos,
  createList,
  launchBrowser,
  newPage,
  type RedisServer,
  screenshot,
  startRedis,
  startTier,
  type Tier,
  titles,
} from './stack.ts';

// What a person sees when the backend's abuse limits refuse them: the real limits of a real
// backend, made small (LIST_CREATES_PER_MINUTE=1), reached from one address as a browser would;
// and how the page waits out a refusal before asking again.

let redis: RedisServer;
/** One list a minute from an address. */
let limited: Tier;
/** Limits off: lists for the tests that play the refusals themselves. */
let plain: Tier;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: string[];
let network: string[];

beforeAll(async () => {
  redis = await startRedis();
  limited = await startTier(redis, { RATE_LIMITS: 'on', LIST_CREATES_PER_MINUTE: '1' });
  plain = await startTier(redis);
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await limited?.stop();
  await plain?.stop();
  await redis?.destroy();
});
afterEach(async ({ task }) => {
  if (task.result?.state === 'fail') {
    console.log(`failed: ${task.name}\npage: ${page.url()}\nbrowser problems: ${problems.join(' | ') || 'none'}`);
    console.log(`API traffic of the page:\n${network.join('\n')}`);
    console.log(`backend output (tail):\n${limited.backend.service.output().slice(-3000) || '(none)'}`);
  }
  // The refusals are logged by the browser as failed loads; anything else is a problem.
  expect(problems.filter((problem) => !/status of (429|503)/.test(problem))).toEqual([]);
  await context.close();
});

describe('rate limits', () => {
  it('a new list over the limit: says so with the wait, drops the todo from the list, gives it back', async () => {
    context = await browser.newContext({ viewport: { width: 800, height: 700 } });
    ({ page, problems, network } = await newPage(context));
    // Spend this minute's one list from the browser's address (already spent if this is a retry).
    let status = 0;
    for (let attempt = 0; attempt < 2 && status !== 429; attempt++) {
      status = (await fetch(`${limited.frontend.url}/api/lists`, { method: 'POST' })).status;
    }
    expect(status, 'a second list within the minute, with LIST_CREATES_PER_MINUTE=1').toBe(429);
    let creates = 0;
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/lists') creates++;
    });
    await page.goto(`${limited.frontend.url}/`);
    await addTodos(page, 'milk');

    const notice = page.getByRole('status').locator('.banner-limited');
    await notice.waitFor({ timeout: 10_000 });
    const text = (await notice.textContent()) ?? '';
    const wait = /^Too many requests from your network: try again in (\d+) s\. /.exec(text);
    expect(wait, text).not.toBeNull();
    expect(Number(wait?.[1])).toBeGreaterThan(0);
    expect(Number(wait?.[1])).toBeLessThanOrEqual(60);
    expect(text).toContain('Your list could not be created, so “milk” was not saved.');
    // Not an outage: the offline notice is not shown.
    expect(await page.locator('.banner-offline').count()).toBe(0);
    // Refused: not in the list, but back in the input; no list, so the address is still `/`.
    expect(await titles(page)).toEqual([]);
    expect(await page.locator('.new-todo').inputValue()).toBe('milk');
    expect(new URL(page.url()).pathname).toBe('/');
    await screenshot(page, '12-rate-limited');

    // Trying again within the wait asks nobody: the answer is known.
    await page.locator('.new-todo').press('Enter');
    await expect.poll(() => page.locator('.new-todo').inputValue()).toBe('milk');
    expect(creates).toBe(1);
  });

  // The server side of these refusals (stream caps, read limits, the per-pod cap) is the backend's
  // to test; here the answers are played, exactly as the backend sends them, to see the page wait.
  // The page's clock is paused (Playwright's clock), so its timers run only when the test moves
  // it on: what the page asks for before the wait is over is counted, not timed.
  it('after a refused stream (429) or refresh (503 overloaded), waits at least Retry-After', async () => {
    context = await browser.newContext({ viewport: { width: 800, height: 700 } });
    ({ page, problems, network } = await newPage(context));
    await pauseClock(page);
    const listId = await createList(plain.frontend.url);
    const asked = { events: 0, todos: 0 };
    await page.route(`**/api/lists/${listId}/events`, async (route) => {
      asked.events++;
      if (asked.events === 1) await route.fulfill(refuse(429, 'urn:tasktier:problem:rate-limited'));
      else await route.continue();
    });
    await page.route(`**/api/lists/${listId}/todos`, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      asked.todos++;
      if (asked.todos === 1) await route.fulfill(refuse(503, 'urn:tasktier:problem:overloaded'));
      else await route.continue();
    });
    await page.goto(`${plain.frontend.url}/l/${listId}`);
    const notice = page.locator('.banner-limited');
    await notice.waitFor({ timeout: 10_000 });
    expect(await notice.textContent()).toMatch(
      /^(Too many requests from your network: live updates resume in 2 s\.|The server is busy: the list updates again in 2 s\.)$/,
    );
    expect(await page.locator('.banner-offline').count()).toBe(0);
    await expect.poll(() => asked).toEqual({ events: 1, todos: 1 });

    // Just under the 2 s asked for: neither is asked again.
    await page.clock.runFor(1900);
    await settled(page);
    expect(asked, 'asked again within the 2 s of Retry-After').toEqual({ events: 1, todos: 1 });
    // Past the wait and its jitter (at most 1.2 s): both come back by themselves.
    await page.clock.runFor(1400);
    await expect.poll(() => asked.events, { timeout: 15_000 }).toBe(2);
    await expect.poll(() => asked.todos, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await notice.waitFor({ state: 'detached' });
    // Live again: a change made elsewhere shows.
    await addThroughApi(plain.frontend.url, listId, 'from elsewhere');
    await expect.poll(() => titles(page), { timeout: 10_000 }).toEqual(['from elsewhere']);
  });

  // A refresh refused with Retry-After while the stream is up: change events keep coming (someone
  // else edits the list), and each used to ask at once, to be refused again.
  it('a refresh refused with Retry-After is not asked again before it, whatever change events arrive', async () => {
    context = await browser.newContext({ viewport: { width: 800, height: 700 } });
    ({ page, problems, network } = await newPage(context));
    await countChangeEvents(page);
    await pauseClock(page);
    const listId = await createList(plain.frontend.url);
    let refusing = false;
    let refused = 0;
    /** On from the refusal until the test turns it off: the GETs seen meanwhile. */
    let waiting = false;
    let askedWhileWaiting = 0;
    await page.route(`**/api/lists/${listId}/todos`, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      if (waiting) askedWhileWaiting++;
      if (!refusing) return route.continue();
      refused++;
      waiting = true;
      await route.fulfill(refuse(429, 'urn:tasktier:problem:rate-limited'));
    });
    await page.goto(`${plain.frontend.url}/l/${listId}`);
    await page.locator('.todoapp[aria-busy="false"]').waitFor();
    // The stream is up: a change made elsewhere shows.
    await addThroughApi(plain.frontend.url, listId, 'one');
    await expect.poll(() => titles(page), { timeout: 10_000 }).toEqual(['one']);

    // Reads are refused from now on; the next change event's refresh gets the 429.
    refusing = true;
    await addThroughApi(plain.frontend.url, listId, 'two');
    const notice = page.locator('.banner-limited');
    await notice.waitFor({ timeout: 10_000 });
    expect(await notice.textContent()).toBe('Too many requests from your network: the list updates again in 2 s.');
    expect(refused).toBe(1);
    // Two more changes elsewhere during the wait: their events arrive, and ask nothing.
    await addThroughApi(plain.frontend.url, listId, 'three');
    await addThroughApi(plain.frontend.url, listId, 'four');
    await expect.poll(() => changeEvents(page), { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
    await settled(page);
    waiting = false;
    expect(askedWhileWaiting, 'GET /todos asked during the wait of Retry-After').toBe(0);
    expect(await titles(page)).toEqual(['one']);

    // The wait over (and its jitter, at most 1.2 s), one refresh shows all of it.
    refusing = false;
    await page.clock.runFor(3300);
    await expect.poll(() => titles(page), { timeout: 10_000 }).toEqual(['one', 'two', 'three', 'four']);
    await notice.waitFor({ state: 'detached' });
    expect(refused).toBe(1);
  });
});

/** A refusal with Retry-After: 2, as the backend sends it. */
function refuse(status: number, type: string) {
  return {
    status,
    headers: { 'retry-after': '2', 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type, title: 'refused', status, detail: 'try again in 2 seconds' }),
  };
}

/** Installs Playwright's clock in the page, paused: the page's timers run only in runFor(). */
async function pauseClock(page: Page): Promise<void> {
  const now = Date.now();
  await page.clock.install({ time: now });
  await page.clock.pauseAt(now + 1000);
}

/**
 * Waits until what the page sent so far has reached the routes: a request the page sends now
 * comes back after those it sent before were seen.
 */
async function settled(page: Page): Promise<void> {
  expect(await page.evaluate(async () => (await fetch('/readyz')).status)).toBe(200);
}

async function addThroughApi(base: string, listId: string, title: string): Promise<void> {
  const response = await fetch(`${base}/api/lists/${listId}/todos`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  expect(response.status, `POST ${title}`).toBe(201);
}

/**
 * Counts the change events the page's event stream has read, in window.changeEvents. The page
 * handles an event in the same task that reads it, so once the count is seen, the page has
 * acted on it (and sent any request it sends for it).
 */
async function countChangeEvents(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const counted = globalThis as unknown as { changeEvents: number };
    counted.changeEvents = 0;
    const read = ReadableStreamDefaultReader.prototype.read;
    ReadableStreamDefaultReader.prototype.read = async function (this: ReadableStreamDefaultReader<unknown>) {
      const result = await read.call(this);
      if (typeof result.value === 'string') counted.changeEvents += result.value.split('event: change').length - 1;
      return result;
    } as typeof read;
  });
}

const changeEvents = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { changeEvents: number }).changeEvents);
