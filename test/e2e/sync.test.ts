import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@tasktier/testkit';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addTodos,
  type Backend,
  eventually,
  type Frontend,
  launchBrowser,
  newPage,
  openNewList,
  type RedisServer,
  SCREENSHOTS,
  screenshot,
  startBackend,
  startFrontend,
  startRedis,
  titles,
} from './stack.ts';

// Sharing, persistence and live sync between browsers, across two backend replicas (each with
// its own frontend, as two pods would be), and what a user sees when a backend goes away.

let redis: RedisServer;
let backends: [Backend, Backend];
let frontends: [Frontend, Frontend];
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageProblems: string[][] = [];
/** Milliseconds from an action in one window to its effect in the other (reported, not asserted). */
const latencies: Record<string, number[]> = {};

beforeAll(async () => {
  redis = await startRedis();
  backends = [await startBackend(redis), await startBackend(redis)];
  frontends = [await startFrontend(backends[0]), await startFrontend(backends[1])];
  browser = await launchBrowser();
});
afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});
afterAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  writeFileSync(join(SCREENSHOTS, '..', 'sync-latency-ms.json'), `${JSON.stringify(latencies, null, 2)}\n`);
  await browser?.close();
  for (const frontend of frontends ?? []) await frontend.service.stop();
  for (const backend of backends ?? []) await backend.stop();
  await redis?.destroy();
});

async function window(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 700, height: 620 } });
  contexts.push(context);
  const { page, problems } = await newPage(context);
  pageProblems.push(problems);
  return page;
}

/** Runs `act` in one window and waits until `read` in the other shows `expected`; records the time. */
async function propagates<T>(name: string, act: () => Promise<void>, read: () => Promise<T>, expected: T) {
  const started = performance.now();
  await act();
  await eventually(name, read, expected);
  const list = latencies[name] ?? [];
  list.push(Math.round(performance.now() - started));
  latencies[name] = list;
}

const toggles = (page: Page) => page.locator('.todo-list li .toggle');
const completedFlags = (page: Page) =>
  page.locator('.todo-list li').evaluateAll((lis) => lis.map((li) => li.classList.contains('completed')));
const banner = (page: Page) => page.locator('.banner');
async function storedTitles(listId: string): Promise<string[]> {
  const response = await fetch(`${frontends[0].url}/api/lists/${listId}/todos`);
  return ((await response.json()) as Array<{ title: string }>).map((todo) => todo.title);
}

/** The version of the list's ETag (`"<version>.<token>"`). */
async function storedVersion(listId: string): Promise<number> {
  const response = await fetch(`${frontends[0].url}/api/lists/${listId}/todos`);
  const etag = response.headers.get('etag') ?? '';
  const version = /^(?:W\/)?"(\d+)\./.exec(etag)?.[1];
  expect(version, `the ETag ${etag}`).toBeDefined();
  return Number(version);
}

async function exerciseSync(one: Page, two: Page, label: string) {
  await propagates(
    `${label}: add`,
    () => addTodos(one, 'from window one'),
    () => titles(two),
    ['from window one'],
  );
  await propagates(
    `${label}: add back`,
    () => addTodos(two, 'from window two'),
    () => titles(one),
    ['from window one', 'from window two'],
  );
  await propagates(
    `${label}: toggle`,
    () => toggles(two).first().check(),
    () => completedFlags(one),
    [true, false],
  );
  await propagates(
    `${label}: edit`,
    async () => {
      const item = one.locator('.todo-list li').nth(1);
      await item.locator('label').dblclick();
      await item.locator('.edit').fill('edited in window one');
      await item.locator('.edit').press('Enter');
    },
    () => titles(two),
    ['from window one', 'edited in window one'],
  );
  await propagates(
    `${label}: toggle all`,
    () => one.locator('label[for="toggle-all"]').click(),
    () => completedFlags(two),
    [true, true],
  );
  await propagates(
    `${label}: clear completed`,
    () => two.locator('.clear-completed').click(),
    () => titles(one),
    [],
  );
  await propagates(
    `${label}: delete`,
    async () => {
      await addTodos(one, 'short-lived');
      await eventually('arrived', () => titles(two), ['short-lived']);
      await two.locator('.todo-list li').first().hover();
      await two.locator('.todo-list li .destroy').first().click();
    },
    () => titles(one),
    [],
  );
}

describe('sharing and live sync', () => {
  it('a shared link opens the same list in another browser, and a reload keeps it', async () => {
    const one = await window();
    const listId = await openNewList(one, frontends[0].url);
    await addTodos(one, 'milk', 'bread');
    await toggles(one).nth(1).check();
    const shareUrl = await one.locator('.share-link').getAttribute('href');
    expect(shareUrl).toBe(`${frontends[0].url}/l/${listId}`);

    const two = await window();
    await two.goto(shareUrl!);
    await eventually('shared list', () => titles(two), ['milk', 'bread']);
    await eventually('shared state', () => completedFlags(two), [false, true]);
    await two.reload();
    await eventually('after reload', () => titles(two), ['milk', 'bread']);
    await screenshot(two, '07-shared-link-second-browser');
  });

  it('two windows on one frontend see each other change the list', async () => {
    const one = await window();
    const listId = await openNewList(one, frontends[0].url);
    const two = await window();
    await two.goto(`${frontends[0].url}/l/${listId}`);
    await two.locator('.new-todo').waitFor();
    await exerciseSync(one, two, 'same replica');
  });

  it('two windows on different backend replicas see each other change the list', async () => {
    const one = await window();
    const listId = await openNewList(one, frontends[0].url);
    const two = await window();
    await two.goto(`${frontends[1].url}/l/${listId}`);
    await two.locator('.new-todo').waitFor();
    await exerciseSync(one, two, 'two replicas');
    await addTodos(one, 'synced across replicas');
    await eventually('synced', () => titles(two), ['synced across replicas']);
    await screenshot(one, '08-sync-replica-a');
    await screenshot(two, '09-sync-replica-b');
  });
});

describe('after a restore', () => {
  // Restoring a backup (or losing the last writes in a crash) takes a list back to an older
  // version, and nobody is told. The next change events then carry versions lower than the one a
  // browser shows, and then the same version as the one shown, naming another state (another
  // revision token): still news.
  it('a change after the list went back to an older version shows the server’s truth', async () => {
    const one = await window();
    const listId = await openNewList(one, frontends[0].url);
    await addTodos(one, 'a', 'b', 'c');
    await eventually('stored', () => storedTitles(listId), ['a', 'b', 'c']);
    const listKeys = () => redis.cli('--scan', '--pattern', `tt:*{${listId}}*`).split('\n').filter(Boolean);
    const backedUp = listKeys();
    for (const key of backedUp) redis.cli('COPY', key, `backup:${key}`);

    await addTodos(one, 'd', 'e', 'f');
    await eventually('stored', () => storedTitles(listId), ['a', 'b', 'c', 'd', 'e', 'f']);
    await eventually('shown', () => titles(one), ['a', 'b', 'c', 'd', 'e', 'f']);
    const before = await storedVersion(listId);

    // The backup comes back, as a restore would put it: the page is not told.
    for (const key of listKeys()) if (!backedUp.includes(key)) redis.cli('DEL', key);
    for (const key of backedUp) redis.cli('COPY', `backup:${key}`, key, 'REPLACE');
    expect(await storedVersion(listId)).toBeLessThan(before);
    // Someone else adds todos, through the other replica, until the list is back at the version
    // the page showed before the restore: the same number, other todos.
    const after = ['after the restore', 'and another', 'and a third'];
    for (const title of after) {
      const added = await fetch(`${frontends[1].url}/api/lists/${listId}/todos`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title }),
      });
      expect(added.status).toBe(201);
    }
    expect(await storedVersion(listId), 'the version shown before the restore, naming another state').toBe(before);
    expect(await storedTitles(listId)).toEqual(['a', 'b', 'c', ...after]);
    await eventually('the server’s truth', () => titles(one), ['a', 'b', 'c', ...after]);
  });
});

describe('when the backend goes away', () => {
  it('shows a clear message, keeps the list on screen, and catches up when the backend is back', async () => {
    const one = await window();
    const listId = await openNewList(one, frontends[0].url);
    await addTodos(one, 'written before the outage');
    const two = await window();
    await two.goto(`${frontends[1].url}/l/${listId}`);
    await eventually('list in window two', () => titles(two), ['written before the outage']);
    expect(await banner(one).count()).toBe(0);

    // Window one's backend replica stops (its frontend keeps serving, answering 502 for the API).
    await backends[0].stop();
    await banner(one).waitFor();
    expect(await banner(one).textContent()).toMatch(/Cannot reach the server/);
    // Non-blocking: the list stays visible and usable.
    expect(await titles(one)).toEqual(['written before the outage']);
    await addTodos(one, 'typed during the outage');
    await screenshot(one, '10-backend-down');

    // Meanwhile someone on the other replica changes the list.
    await addTodos(two, 'added while window one was cut off');
    // And a first visit through the cut-off replica shows its empty list, but cannot create it
    // with its first todo: it says so, and gives the todo back to the input.
    const newcomer = await window();
    await newcomer.goto(`${frontends[0].url}/`);
    await addTodos(newcomer, 'my first todo');
    await banner(newcomer).waitFor();
    expect(await banner(newcomer).textContent()).toMatch(
      /Your list could not be created, so “my first todo” was not saved: the backend/,
    );
    expect(await titles(newcomer)).toEqual([]);
    expect(await newcomer.locator('.new-todo').inputValue()).toBe('my first todo');

    await backends[0].restart();
    // Enter again, once the backend is back (the first tries may still find it starting).
    await waitFor(
      'the list created',
      async () => {
        if (new URL(newcomer.url()).pathname !== '/') return true;
        if ((await newcomer.locator('.new-todo').inputValue()) === 'my first todo') {
          await newcomer.locator('.new-todo').press('Enter');
        }
        return false;
      },
      { timeoutMs: 20_000 },
    );
    await newcomer.waitForURL(/\/l\/[A-Za-z0-9_-]{22}$/);
    await eventually('created with its todo', () => titles(newcomer), ['my first todo']);
    await banner(one).waitFor({ state: 'detached', timeout: 20_000 });
    // Caught up with the server's truth: the other window's change is there; the change that
    // could not be saved is not pretended to be.
    await eventually('caught up', () => titles(one), [
      'written before the outage',
      'added while window one was cut off',
    ]);
    await addTodos(two, 'after recovery');
    await eventually('live again', () => titles(one), [
      'written before the outage',
      'added while window one was cut off',
      'after recovery',
    ]);
    await screenshot(one, '11-backend-back');
    // The 502s while the backend was down are expected console errors; nothing else is.
    for (const problem of pageProblems.flat()) expect(problem).toMatch(/status of 502|ERR_CONNECTION|net::/);
    pageProblems.length = 0;
  });
});

afterEach(() => {
  // No script errors and no CSP violations.
  expect(pageProblems.flat()).toEqual([]);
  pageProblems.length = 0;
});
