import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { configWith } from '../src/config.ts';
import { IMMUTABLE, pickEncoding } from '../src/routes/static.ts';
import { buildTestApp, HASHED_CSS, HASHED_JS, INDEX_HTML, JS_BODY, makePublicDir, type TestApp } from './helpers.ts';

let publicDir: ReturnType<typeof makePublicDir>;
let app: TestApp;

beforeAll(async () => {
  publicDir = makePublicDir();
  app = await buildTestApp(publicDir.dir);
});
afterAll(async () => {
  await app?.close();
  publicDir?.cleanup();
});

const LIST_ID = 'AbCdEfGhIjKlMnOpQrStUv';

describe('static UI', () => {
  it.each(['/', `/l/${LIST_ID}`, '/index.html'])('serves index.html at %s, revalidated on every use', async (url) => {
    const response = await app.inject({ url });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(response.body).toBe(INDEX_HTML);
  });

  it('serves content-hashed assets as immutable for a year', async () => {
    for (const url of [HASHED_JS, HASHED_CSS]) {
      const response = await app.inject({ url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['cache-control'], url).toBe(IMMUTABLE);
    }
    const js = await app.inject({ url: HASHED_JS });
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toBe(JS_BODY);
  });

  it('revalidates files without a content hash', async () => {
    const response = await app.inject({ url: '/robots.txt' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-cache');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await app.inject({ url: '/' });
    const etag = String(first.headers.etag);
    const again = await app.inject({ url: '/', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
    const weak = await app.inject({ url: '/', headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(weak.statusCode).toBe(304);
    const stale = await app.inject({ url: '/', headers: { 'if-none-match': '"stale"' } });
    expect(stale.statusCode).toBe(200);
  });

  it('sends Brotli or gzip as the client accepts, identical once decoded', async () => {
    const br = await app.inject({ url: HASHED_JS, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toBe('accept-encoding');
    expect(Number(br.headers['content-length'])).toBeLessThan(JS_BODY.length);
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(JS_BODY);

    const gzip = await app.inject({ url: HASHED_JS, headers: { 'accept-encoding': 'gzip' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzip.rawPayload).toString()).toBe(JS_BODY);

    const refused = await app.inject({ url: HASHED_JS, headers: { 'accept-encoding': 'br;q=0, gzip;q=0' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(refused.body).toBe(JS_BODY);

    const none = await app.inject({ url: HASHED_JS });
    expect(none.headers['content-encoding']).toBeUndefined();
  });

  it('parses Accept-Encoding with weights and wildcards', () => {
    const asset = {
      body: Buffer.alloc(0),
      br: Buffer.alloc(1),
      gzip: Buffer.alloc(1),
      type: '',
      etag: '',
      cacheControl: '',
    };
    expect(pickEncoding('br;q=0.5, gzip;q=1', asset)).toBe('br');
    expect(pickEncoding('*', asset)).toBe('br');
    expect(pickEncoding('*;q=0, gzip', asset)).toBe('gzip');
    expect(pickEncoding('identity', asset)).toBeUndefined();
    expect(pickEncoding('BR', { ...asset, br: undefined })).toBeUndefined();
  });

  it('answers HEAD with the headers and no body', async () => {
    const response = await app.inject({ method: 'HEAD', url: HASHED_JS });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe(IMMUTABLE);
    expect(response.body).toBe('');
  });

  it('answers unknown paths with a 404 problem', async () => {
    for (const url of ['/nope', '/assets/missing-AbCd1234.js', '/l/x/y', '/../package.json']) {
      const response = await app.inject({ url });
      expect(response.statusCode, url).toBe(404);
      expect(response.headers['content-type'], url).toBe('application/problem+json; charset=utf-8');
      expect(response.json(), url).toMatchObject({ status: 404, title: 'Not Found' });
    }
  });

  it('refuses to start without a UI build, saying what to do', async () => {
    await expect(buildApp(configWith({}), { publicDir: '/nonexistent/public', logger: false })).rejects.toThrow(
      /UI build is missing.*npm run build/,
    );
  });
});

describe('the real UI build (dist/public)', () => {
  const dist = fileURLToPath(new URL('../dist/public/', import.meta.url));

  it('has no inline script or style and hashes every asset', () => {
    expect(existsSync(dist), `${dist} is missing: run npm run build -w @tasktier/frontend`).toBe(true);
    const html = readFileSync(`${dist}/index.html`, 'utf8');
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/assets\//);
      expect(body?.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b/);
    expect(html).not.toMatch(/\sstyle="/);
    expect(html).not.toMatch(/\son[a-z]+="/);
    for (const file of readdirSync(`${dist}/assets`)) expect(file).toMatch(/-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/);
  });
});
