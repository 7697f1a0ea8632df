import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, listen, makePublicDir, startUpstream } from './helpers.ts';

let publicDir: ReturnType<typeof makePublicDir>;
beforeAll(() => {
  publicDir = makePublicDir();
});
afterAll(() => publicDir?.cleanup());

describe('closing the app', () => {
  it('does not wait for keep-alive connections whose response was still being written at close', async () => {
    // The backend sends its headers, then the body a moment later: the response is in flight,
    // its headers already with the client, when close() starts.
    let finishBody = (): void => {};
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"todos":[');
      finishBody = () => res.end(`${'"x",'.repeat(500)}"y"]}`);
    });
    const app = await buildTestApp(publicDir.dir, { BACKEND_URL: upstream.url });
    try {
      const base = await listen(app);
      const response = await fetch(`${base}/api/lists/AbCdEfGhIjKlMnOpQrStUv/todos`, {
        headers: { 'accept-encoding': 'gzip' },
      });
      expect(response.status).toBe(200);
      const closed = app.close();
      finishBody();
      expect(response.headers.get('content-encoding')).toBe('gzip');
      // fetch decompresses by itself.
      expect(((await response.json()) as { todos: string[] }).todos).toHaveLength(501);
      // Resolves (the test would time out otherwise) once the response is done, not after keepAliveTimeout.
      await closed;
    } finally {
      await upstream.close();
    }
  });
});
