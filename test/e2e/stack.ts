import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  getFreePort,
  type RedisServer,
  repoRoot,
  type Service,
  serviceScript,
  startRedis,
  startService,
  waitFor,
} from '@tasktier/testkit';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';

/**
 * The real stack for browser tests: redis-server, the backend bundle and the frontend bundle as
 * child processes (exactly what `npm start` and the images run), and Debian's Chromium driven by
 * playwright-core. Nothing is mocked.
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(repoRoot, 'test-results/screenshots');

export interface Backend {
  port: number;
  url: string;
  service: Service;
  /** SIGTERM, wait for the exit. */
  stop(): Promise<void>;
  /** Starts again on the same port. */
  restart(): Promise<void>;
}

/** A backend and the frontend in front of it, as a pod of each; `stop()` stops both, frontend first. */
export interface Tier {
  backend: Backend;
  frontend: Frontend;
  stop(): Promise<void>;
}

export async function startTier(redis: RedisServer, env: Record<string, string> = {}): Promise<Tier> {
  const backend = await startBackend(redis, env);
  const frontend = await startFrontend(backend);
  return {
    backend,
    frontend,
    stop: async () => {
      await frontend.service.stop();
      await backend.stop();
    },
  };
}

/** A backend behind the frontend (trusted on loopback); per-client limits off unless `env` turns them on. */
export async function startBackend(redis: RedisServer, env: Record<string, string> = {}): Promise<Backend> {
  const script = serviceScript('backend');
  const port = await getFreePort();
  const url = `http://127.0.0.1:${port}`;
  const launch = () =>
    startService({
      name: `backend:${port}`,
      script,
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL: redis.url,
        DRAIN_DELAY_MS: '200',
        SHUTDOWN_TIMEOUT_MS: '2000',
        LOG_LEVEL: 'warn',
        TRUST_PROXY: 'loopback',
        // Every test's browser comes from 127.0.0.1: one client address for the whole suite.
        RATE_LIMITS: 'off',
        ...env,
      },
      readyUrl: `${url}/readyz`,
    });
  const backend: Backend = {
    port,
    url,
    service: await launch(),
    stop: async () => {
      await backend.service.stop('SIGTERM');
    },
    restart: async () => {
      backend.service = await launch();
    },
  };
  return backend;
}

export interface Frontend {
  url: string;
  service: Service;
}

export async function startFrontend(backend: Backend): Promise<Frontend> {
  const script = serviceScript('frontend');
  const port = await getFreePort();
  const url = `http://127.0.0.1:${port}`;
  const service = await startService({
    name: `frontend:${port}`,
    script,
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      BACKEND_URL: backend.url,
      DRAIN_DELAY_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'warn',
    },
    readyUrl: `${url}/readyz`,
  });
  return { url, service };
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  // launch() gives every browser a fresh temporary profile (its own --user-data-dir).
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Everything a page reports as broken: script errors, console errors (CSP violations are these). */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  return problems;
}

/** The page's API traffic with times (ms since watching began), to explain a failed test; not asserted. */
export function watchNetwork(page: Page): string[] {
  const log: string[] = [];
  const started = Date.now();
  const at = () => `${String(Date.now() - started).padStart(6)} ms`;
  const api = (url: string) => new URL(url).pathname.startsWith('/api/');
  page.on('request', (request) => {
    if (api(request.url())) log.push(`${at()} -> ${request.method()} ${new URL(request.url()).pathname}`);
  });
  page.on('response', (response) => {
    if (api(response.url())) log.push(`${at()} <- ${response.status()} ${new URL(response.url()).pathname}`);
  });
  page.on('requestfailed', (request) => {
    if (api(request.url())) log.push(`${at()} !! ${request.failure()?.errorText} ${new URL(request.url()).pathname}`);
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) log.push(`${at()} page ${frame.url()}`);
  });
  return log;
}

export async function newPage(context: BrowserContext): Promise<{ page: Page; problems: string[]; network: string[] }> {
  const page = await context.newPage();
  return { page, problems: watchProblems(page), network: watchNetwork(page) };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Waits until `read()` deep-equals `expected` (the UI and the network settle), then asserts it. */
export async function eventually<T>(what: string, read: () => Promise<T>, expected: T, timeoutMs = 10_000) {
  const wanted = JSON.stringify(expected);
  let last: T | undefined;
  try {
    await waitFor(
      what,
      async () => {
        last = await read();
        return JSON.stringify(last) === wanted;
      },
      { timeoutMs },
    );
  } catch {
    // Fall through to the assertion, which shows the difference.
  }
  expect(last, what).toEqual(expected);
}

// ---- TodoMVC page helpers ------------------------------------------------------------------

export const isFocused = (locator: Locator): Promise<boolean> =>
  locator.evaluate((el) => el.ownerDocument.activeElement === el);

export const todoItems = (page: Page): Locator => page.locator('.todo-list li');
export const titles = (page: Page): Promise<string[]> => page.locator('.todo-list li label').allTextContents();

export async function addTodos(page: Page, ...items: string[]): Promise<void> {
  const input = page.locator('.new-todo');
  for (const item of items) {
    await input.fill(item);
    await input.press('Enter');
  }
}

/** A new, empty list, created through the API (a visit to `/` creates none until a todo is added). */
export async function createList(base: string): Promise<string> {
  const response = await fetch(`${base}/api/lists`, { method: 'POST' });
  expect(response.status, 'POST /api/lists').toBe(201);
  return ((await response.json()) as { id: string }).id;
}

/** Opens a new, empty list at its link, /l/<id>, and returns the id. */
export async function openNewList(page: Page, base: string): Promise<string> {
  const listId = await createList(base);
  await page.goto(`${base}/l/${listId}`);
  await page.locator('.todoapp[aria-busy="false"]').waitFor();
  return listId;
}

export { type RedisServer, startRedis };
