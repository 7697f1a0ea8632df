import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@tasktier/testkit';
import { describe, expect, it } from 'vitest';

// test/system-packages.txt is the one list of the Debian packages the suites need: .ci/run
// installs it, and README.md shows it as the line a new user copies. This keeps the two in step.

const root = repoRoot;
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The packages of the list, as .ci/run reads it: comments and blank lines dropped. */
function listedPackages(): string[] {
  return read('test/system-packages.txt')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}

describe('the system packages', () => {
  it('are one per line, each with a comment saying which suite needs it', () => {
    const lines = read('test/system-packages.txt')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
    for (const line of lines) expect(line, 'a package name, then a comment').toMatch(/^[a-z0-9][a-z0-9.+-]*\s+#\s*\S/);
    expect(new Set(listedPackages()).size, 'no package twice').toBe(lines.length);
  });

  it("are the README's install line, in the same order", () => {
    const installLines = read('README.md')
      .split('\n')
      .map((line) => /^\s*sudo apt-get install -y (.+)$/.exec(line)?.[1])
      .filter((packages) => packages !== undefined);
    expect(installLines, 'README.md has one full install line').toHaveLength(1);
    expect(
      installLines[0]?.trim().split(/\s+/),
      'README.md install line (copy it from test/system-packages.txt)',
    ).toEqual(listedPackages());
  });

  it('are what .ci/run installs, read from the list', () => {
    const ci = read('.ci/run');
    expect(ci).toContain('test/system-packages.txt');
    expect(ci).toMatch(/apt-get install .*"\$\{packages\[@\]\}"/);
  });
});
