import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageRuntimeEnv } from '../../bench/lib/image-settings.ts';
import { formatRequest, PREFORMATTED_REQUESTS, writeWorkloadScript } from '../../bench/lib/wrk.ts';

describe('the benchmark runs the services as the images do', () => {
  it("reads NODE_OPTIONS from the Dockerfile's last stage, not from the build stages", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasktier-image-settings-'));
    try {
      const dockerfile = join(dir, 'Dockerfile');
      writeFileSync(
        dockerfile,
        [
          'FROM build AS build',
          'ENV NODE_OPTIONS="--max-old-space-size=4096"',
          'FROM runtime',
          'ENV PATH=/nodejs/bin \\',
          '    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=160" \\',
          '    NODE_ENV=production',
          'CMD ["/app/dist/server.js"]',
        ].join('\n'),
      );
      expect(imageRuntimeEnv(dockerfile)).toEqual({
        NODE_OPTIONS: '--max-semi-space-size=8 --max-old-space-size=160',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("services/Dockerfile gives the services a NODE_OPTIONS that caps V8's young generation", () => {
    expect(imageRuntimeEnv().NODE_OPTIONS).toMatch(/--max-semi-space-size=\d+/);
  });
});

describe("wrk's pre-formatted requests", () => {
  it('formats a keep-alive HTTP/1.1 request with its body length in bytes', () => {
    expect(formatRequest('127.0.0.1:5000', { method: 'POST', path: '/api/lists/x/todos', body: '{"title":"é"}' })).toBe(
      'POST /api/lists/x/todos HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"title":"é"}',
    );
  });

  it('writes one request for a workload that repeats one, every one in turn for a workload that varies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasktier-wrk-'));
    try {
      const same = writeWorkloadScript(dir, 'get', 'http://127.0.0.1:1', () => ({ method: 'GET', path: '/a' }));
      expect(readFileSync(same, 'utf8').match(/HTTP\/1\.1/g)).toHaveLength(1);
      let n = 0;
      const varied = writeWorkloadScript(dir, 'post', 'http://127.0.0.1:1', () => ({
        method: 'POST',
        path: `/l/${n++ % 128}`,
        body: '{}',
      }));
      expect(readFileSync(varied, 'utf8').match(/HTTP\/1\.1/g)).toHaveLength(PREFORMATTED_REQUESTS);
      // wrk loads it as Lua before it connects: with no server, it gets as far as the connection.
      const loaded = spawnSync('wrk', ['-t1', '-c1', '-d1s', '-s', varied, 'http://127.0.0.1:1/'], {
        encoding: 'utf8',
      });
      expect(loaded.stderr).not.toMatch(/\.lua:\d+:/);
      expect(loaded.stderr).toContain('unable to connect');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
