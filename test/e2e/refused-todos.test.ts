import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addTodos,
  createList,
  eventually,
  launchBrowser,
  newPage,
  type RedisServer,
  startRedis,
  startTier,
  type Tier,
  titles,
} from './stack.ts';

// A todo typed and then refused (over a limit, a full list, a title the server does not take)
// is not lost: it goes back to the input. Real backends with small limits, as a browser meets them.

let redis: RedisServer;
/** One list a minute from an address. */
let creates: Tier;
/** One write a minute from an address. */
let writes: Tier;
/** Lists of at most 1 KiB, limits off. */
let small: Tier;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: string[];
let network: string[];

beforeAll(async () => {
  redis = await startRedis();
  creates = await startTier(redis, { RATE_LIMITS: 'on', LIST_CREATES_PER_MINUTE: '1' });
  writes = await startTier(redis, { RATE_LIMITS: 'on', WRITES_PER_MINUTE: '1' });
  small = await startTier(redis, { MAX_LIST_BYTES: '1024' });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  for (const tier of [creates, writes, small]) await tier?.stop();
  await redis?.destroy();
});
afterEach(async ({ task }) => {
  if (task.result?.state === 'fail') {
    console.log(`failed: ${task.name}\npage: ${page.url()}\nbrowser problems: ${problems.join(' | ') || 'none'}`);
    console.log(`API traffic of the page:\n${network.join('\n')}`);
  }
  // The refusals are logged by the browser as failed loads; anything else is a problem.
  expect(problems.filter((problem) => !/status of (409|429)/.test(problem))).toEqual([]);
  await context.close();
});

async function open(): Promise<void> {
  context = await browser.newContext({ viewport: { width: 800, height: 700 } });
  ({ page, problems, network } = await newPage(context));
}

const input = () => page.locator('.new-todo');

async function post(base: string, listId: string, title: string): Promise<number> {
  const response = await fetch(`${base}/api/lists/${listId}/todos`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  return response.status;
}

async function stored(base: string, listId: string): Promise<string[]> {
  const response = await fetch(`${base}/api/lists/${listId}/todos`);
  return ((await response.json()) as Array<{ title: string }>).map((todo) => todo.title);
}

describe('refused todos go back to the input', () => {
  it('on a new list: two todos typed while its creation is refused are both given back', async () => {
    await open();
    // Spend this minute's one list from the browser's address (already spent if this is a retry).
    let status = 0;
    for (let attempt = 0; attempt < 2 && status !== 429; attempt++) {
      status = (await fetch(`${creates.frontend.url}/api/lists`, { method: 'POST' })).status;
    }
    expect(status, 'a second list within the minute, with LIST_CREATES_PER_MINUTE=1').toBe(429);
    // The list's creation is held until the second todo is typed: both are typed while it is pending.
    let createAsked!: () => void;
    const asked = new Promise<void>((resolve) => {
      createAsked = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route('**/api/lists', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      createAsked();
      await released;
      await route.continue();
    });
    await page.goto(`${creates.frontend.url}/`);
    await addTodos(page, 'first');
    await asked;
    await addTodos(page, 'second');
    expect(await titles(page)).toEqual(['first', 'second']);
    release();

    // The first is refused (429), the second at once (the wait is known): both back, in order.
    await expect.poll(() => input().inputValue(), { timeout: 10_000 }).toBe('first; second');
    expect(await titles(page)).toEqual([]);
    expect(await page.locator('.banner-limited').textContent()).toMatch(/^Too many requests from your network: /);
    expect(new URL(page.url()).pathname).toBe('/');
  });

  it('on a list: a todo refused over the write limit (429) is given back', async () => {
    await open();
    const listId = await createList(writes.frontend.url);
    // Spend this minute's one write from the browser's address.
    let status = 0;
    for (let attempt = 0; attempt < 2 && status !== 429; attempt++) {
      status = await post(writes.frontend.url, listId, 'spent');
    }
    expect(status, 'a second write within the minute, with WRITES_PER_MINUTE=1').toBe(429);
    await page.goto(`${writes.frontend.url}/l/${listId}`);
    await page.locator('.todoapp[aria-busy="false"]').waitFor();
    const before = await titles(page);

    await addTodos(page, 'milk');
    await expect.poll(() => input().inputValue(), { timeout: 10_000 }).toBe('milk');
    expect(await page.locator('.banner-limited').textContent()).toMatch(/^Too many requests from your network: /);
    await eventually('not in the list', () => titles(page), before);
    expect(await stored(writes.frontend.url, listId)).toEqual(before);
  });

  it('on a full list: a todo refused as too big for it (409) is given back, after what is being typed', async () => {
    await open();
    const listId = await createList(small.frontend.url);
    const long = (n: number) => `${n} ${'x'.repeat(200)}`;
    let count = 0;
    while ((await post(small.frontend.url, listId, long(count))) === 201) count++;
    expect(count, 'todos in 1 KiB').toBeGreaterThan(0);
    await page.goto(`${small.frontend.url}/l/${listId}`);
    await eventually('the full list', async () => (await titles(page)).length, count);

    // Held until something else is being typed: that stays, and the todo comes back after it.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route(`**/api/lists/${listId}/todos`, async (route) => {
      if (route.request().method() === 'POST') await released;
      await route.continue();
    });
    await addTodos(page, long(count));
    await input().pressSequentially('typing');
    release();
    await expect.poll(() => input().inputValue(), { timeout: 10_000 }).toBe(`typing; ${long(count)}`);
    expect(await page.locator('.banner-error').textContent()).toMatch(/^Your change could not be saved: /);
    await eventually('not in the list', async () => (await titles(page)).length, count);
    expect((await stored(small.frontend.url, listId)).length).toBe(count);
  });

  it('a title with a tab or another control character is saved with spaces instead', async () => {
    await open();
    const listId = await createList(small.frontend.url);
    await page.goto(`${small.frontend.url}/l/${listId}`);
    await page.locator('.todoapp[aria-busy="false"]').waitFor();
    // As pasted: a tab in the middle, and a C1 control character (U+0085, "next line").
    await input().fill('pasted\twith a tab');
    await input().press('Enter');
    await addTodos(page, 'next\u0085line');
    await eventually('saved', () => stored(small.frontend.url, listId), ['pasted with a tab', 'next line']);
    expect(await titles(page)).toEqual(['pasted with a tab', 'next line']);
    expect(await input().inputValue()).toBe('');

    // Edited, with a control character in the new title.
    const item = page.locator('.todo-list li').first();
    await item.locator('label').dblclick();
    await item.locator('.edit').fill('edited\u0001title');
    await item.locator('.edit').press('Enter');
    await eventually('edited', () => stored(small.frontend.url, listId), ['edited title', 'next line']);
    await eventually('shown', () => titles(page), ['edited title', 'next line']);
    expect(await page.locator('.banner').count()).toBe(0);
  });
});
