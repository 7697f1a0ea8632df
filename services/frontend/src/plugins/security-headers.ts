import fp from 'fastify-plugin';

/**
 * The UI loads only its own hashed script and stylesheet: no inline code, no other origins.
 * `img-src data:` is for the check-mark icons todomvc-app-css embeds as SVG data URIs (images
 * cannot run script). No `upgrade-insecure-requests`: it would break plain-HTTP local use.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  // List URLs are capabilities (whoever has the link can edit): never leak them in Referer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()',
};

export const HSTS = 'max-age=31536000; includeSubDomains';

/**
 * Security headers on every response. HSTS only when the request came over HTTPS, which behind
 * the Ingress is known from X-Forwarded-Proto, believed only from a trusted proxy (TRUST_PROXY):
 * Fastify's `request.protocol` applies exactly that rule.
 */
export default fp(
  async (app) => {
    // Callback style: runs on every request (an async hook costs a promise and a microtask turn).
    app.addHook('onRequest', (request, reply, done) => {
      reply.headers(HEADERS);
      if (request.protocol === 'https') reply.header('strict-transport-security', HSTS);
      done();
    });
  },
  { name: 'security-headers' },
);
