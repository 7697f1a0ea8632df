import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Serves the built UI from memory. The build is small (tens of kB) and immutable for the life of
 * the process (read-only root filesystem), so every file is read, hashed and compressed (Brotli
 * and gzip at maximum quality) once at startup; a request then costs no file system access and no
 * compression. Vite names everything under assets/ with a content hash: those are cached for a
 * year as immutable; everything else (index.html above all) is `no-cache`, revalidated by ETag.
 */

export interface StaticOptions {
  root: string;
}

interface Asset {
  body: Buffer;
  br?: Buffer;
  gzip?: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = /^(text\/|application\/(json|manifest\+json)|image\/svg\+xml)/;
const MIN_COMPRESS_BYTES = 512;

export const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';
/** Vite's content-hashed file names: name-HASH.ext, the hash 8+ URL-safe characters. */
const HASHED = /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

function makeAsset(urlPath: string, body: Buffer): Asset {
  const type = TYPES[extname(urlPath).toLowerCase()] ?? 'application/octet-stream';
  const asset: Asset = {
    body,
    type,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    cacheControl: HASHED.test(urlPath) ? IMMUTABLE : REVALIDATE,
  };
  if (COMPRESSIBLE.test(type) && body.length >= MIN_COMPRESS_BYTES) {
    const br = brotliCompressSync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    });
    const gzip = gzipSync(body, { level: 9 });
    if (br.length < body.length) asset.br = br;
    if (gzip.length < body.length) asset.gzip = gzip;
  }
  return asset;
}

/** Reads every file under `root` into a map from URL path (`/assets/x.js`) to its prepared asset. */
async function loadAssets(root: string): Promise<Map<string, Asset>> {
  const rootStat = await stat(root).catch(() => undefined);
  if (!rootStat?.isDirectory()) {
    throw new Error(`the UI build is missing: ${root} is not a directory (run npm run build -w @tasktier/frontend)`);
  }
  const assets = new Map<string, Asset>();
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    const urlPath = `/${relative(root, file).split(sep).join('/')}`;
    assets.set(urlPath, makeAsset(urlPath, await readFile(file)));
  }
  if (!assets.has('/index.html')) throw new Error(`the UI build is incomplete: ${root}/index.html is missing`);
  return assets;
}

/** The best encoding the client accepts among those we have: br, then gzip, else none. */
export function pickEncoding(acceptEncoding: string | undefined, asset: Asset): 'br' | 'gzip' | undefined {
  if (!acceptEncoding || (!asset.br && !asset.gzip)) return undefined;
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    let q = 1;
    for (const param of params) {
      const [key, value] = param.trim().split('=');
      if (key === 'q' && value !== undefined) q = Number(value);
    }
    if (name && !Number.isNaN(q)) accepted.set(name, q);
  }
  const wildcard = accepted.get('*');
  const allows = (name: string) => (accepted.get(name) ?? wildcard ?? 0) > 0;
  if (asset.br && allows('br')) return 'br';
  if (asset.gzip && allows('gzip')) return 'gzip';
  return undefined;
}

function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset) {
  reply.header('cache-control', asset.cacheControl).header('etag', asset.etag).type(asset.type);
  if (asset.br || asset.gzip) reply.header('vary', 'accept-encoding');
  if (matchesEtag(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
  const encoding = pickEncoding(request.headers['accept-encoding'], asset);
  if (encoding) reply.header('content-encoding', encoding);
  return reply.send(encoding ? asset[encoding] : asset.body);
}

/**
 * Registers one GET (and HEAD) route per built file, plus the single-page-app routes `/` and
 * `/l/:listId` that answer with index.html (the UI reads the list id from the path).
 */
export default async function staticFiles(app: FastifyInstance, options: StaticOptions) {
  const assets = await loadAssets(options.root);
  const index = assets.get('/index.html')!;
  for (const [urlPath, asset] of assets) {
    app.get(urlPath, (request, reply) => send(request, reply, asset));
  }
  app.get('/', (request, reply) => send(request, reply, index));
  app.get('/l/:listId', (request, reply) => send(request, reply, index));
  app.log.debug({ files: assets.size }, 'UI loaded');
}
