import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { k8sDir, listComponents, parseManifests } from './lib/render.ts';

// What is committed: no credential anywhere in deploy/k8s, the env file of the
// redis-secret-from-file component ignored by git, and a README for each component in the
// Online Boutique style (prerequisites, the command, expected output, cleanup).

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return files(path);
    return [path];
  });
}
const manifests = files(k8sDir).filter((path) => /\.ya?ml$/.test(path));

describe('no credential in the repository', () => {
  test('no manifest contains a Secret with data', () => {
    expect(manifests.length).toBeGreaterThan(10);
    for (const path of manifests) {
      const text = readFileSync(path, 'utf8');
      if (!/^kind:\s*Secret\b/m.test(text)) continue;
      for (const object of parseManifests(text)) {
        if (object.kind !== 'Secret') continue;
        expect(object.data ?? object.stringData, `${relative(k8sDir, path)} carries Secret data`).toBeUndefined();
      }
    }
  });

  test('no password, token or key is written into any file', () => {
    const suspicious = /(password|passwd|requirepass|secret|token)\s*[:=]\s*["']?(?!\$|")[A-Za-z0-9+/=._~-]{6,}/i;
    for (const path of files(k8sDir)) {
      const text = readFileSync(path, 'utf8');
      const lines = text.split('\n').filter((line) => !line.trimStart().startsWith('#') && suspicious.test(line));
      // Key references are fine: `key: password`, `name: REDIS_PASSWORD`, `secretName: ...-tls`.
      const real = lines.filter((line) => !/(key|name|secretName|secretKeyRef)\s*:/.test(line));
      expect(real, relative(k8sDir, path)).toEqual([]);
    }
  });

  test('redis.env is ignored by git and its committed example holds no password', () => {
    const component = join(k8sDir, 'components', 'redis-secret-from-file');
    const check = (file: string): boolean => {
      try {
        execFileSync('git', ['check-ignore', '-q', join(component, file)], { cwd: k8sDir });
        return true;
      } catch {
        return false;
      }
    };
    expect(check('redis.env')).toBe(true);
    expect(check('redis.env.example')).toBe(false);
    const example = readFileSync(join(component, 'redis.env.example'), 'utf8');
    expect(example).toMatch(/^password=$/m);
  });
});

describe('documentation', () => {
  test.each(listComponents())(
    'components/%s has a README with prerequisites, command, expected output and cleanup',
    (name) => {
      const path = join(k8sDir, 'components', name, 'README.md');
      expect(existsSync(path), `${path} is missing`).toBe(true);
      const text = readFileSync(path, 'utf8');
      // The Online Boutique layout: what it needs, how to add it, what you should see, how to remove it.
      const sections: [string, RegExp][] = [
        ['prerequisites', /^#{2,3} .*prerequisite/im],
        ['the command that adds it', /^#{2,3} .*\b(add|deploy|use|enable|apply|install)/im],
        ['expected output', /^#{2,3} .*expected/im],
        ['cleanup', /^#{2,3} .*clean ?up/im],
      ];
      for (const [what, heading] of sections) {
        expect(text, `${name}/README.md needs a section (## heading) on ${what}`).toMatch(heading);
      }
      expect(text).toContain(`components/${name}`);
    },
  );

  test('the deployment README walks through every step and explains the numbers', () => {
    const text = readFileSync(join(k8sDir, 'README.md'), 'utf8');
    for (const needle of [
      'kind load',
      'minikube image load',
      'create secret generic redis-auth',
      'kubectl apply -k deploy/k8s/overlays/',
      '/etc/hosts',
      'microservices.local',
      '## Why these numbers',
      'terminationGracePeriodSeconds',
      'DRAIN_DELAY_MS',
      'maxSurge',
    ]) {
      expect(text, `README.md should mention ${needle}`).toContain(needle);
    }
  });
});
