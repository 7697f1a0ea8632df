import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, HSTS } from '../src/plugins/security-headers.ts';
import { buildTestApp, makePublicDir, type TestApp } from './helpers.ts';

let publicDir: ReturnType<typeof makePublicDir>;
let app: TestApp;

beforeAll(async () => {
  publicDir = makePublicDir();
  // As in Kubernetes, where the Ingress controller is the frontend's proxy.
  app = await buildTestApp(publicDir.dir, { TRUST_PROXY: 'loopback,linklocal,uniquelocal' });
});
afterAll(async () => {
  await app?.close();
  publicDir?.cleanup();
});

describe('security headers', () => {
  it('sends a strict CSP and the other headers on pages, assets, errors and API failures', async () => {
    for (const url of ['/', '/assets/index-AbCd1234.js', '/nope', '/api/lists', '/healthz']) {
      const response = await app.inject({ url });
      expect(response.headers['content-security-policy'], url).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
      expect(response.headers['referrer-policy'], url).toBe('no-referrer');
      expect(response.headers['x-frame-options'], url).toBe('DENY');
    }
  });

  it('allows only this origin, no inline code, no framing', () => {
    const directives = new Map(
      CONTENT_SECURITY_POLICY.split(';').map((d) => {
        const [name = '', ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    expect(directives.get('default-src')).toEqual(["'self'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('style-src')).toEqual(["'self'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('sends HSTS only when the request came over HTTPS through a trusted proxy', async () => {
    const plain = await app.inject({ url: '/' });
    expect(plain.headers['strict-transport-security']).toBeUndefined();

    // The Ingress (a private address, trusted here) says the client used HTTPS.
    const viaIngress = await app.inject({
      url: '/',
      remoteAddress: '10.1.2.3',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(viaIngress.headers['strict-transport-security']).toBe(HSTS);

    // Anyone else saying so is not believed.
    const spoofed = await app.inject({
      url: '/',
      remoteAddress: '203.0.113.7',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(spoofed.headers['strict-transport-security']).toBeUndefined();
  });

  it.each(['false', ''])('believes nobody when TRUST_PROXY is %j (empty is the default)', async (trustProxy) => {
    const strict = await buildTestApp(publicDir.dir, { TRUST_PROXY: trustProxy });
    try {
      const response = await strict.inject({
        url: '/',
        remoteAddress: '10.1.2.3',
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(response.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await strict.close();
    }
  });
});
