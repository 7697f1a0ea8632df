import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@tasktier/testkit';
import { describe, expect, it } from 'vitest';

// The folder maps in README.md ("Repository layout") and docs/architecture.md ("The repository")
// name what is in the tree: every path they name exists, and every folder a newcomer would look
// for (each top-level one, and each one under packages/, services/, deploy/ and test/) is named.

const root = repoRoot;
const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);

/** The paths a map names: the first word of each line of the first code block after `heading`. */
function mapPaths(file: string, heading: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const section = text.slice(text.indexOf(heading));
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith(' '))
    .map((line) => line.split(/\s+/)[0] ?? '');
}

/** The folders a reader must find in a map. */
function foldersToName(): string[] {
  const folders = new Set<string>();
  for (const path of tracked) {
    const parts = path.split('/');
    if (parts.length < 2) continue;
    const top = parts[0] ?? '';
    if (['packages', 'services', 'deploy', 'test'].includes(top) && parts.length > 2) folders.add(`${top}/${parts[1]}`);
    else folders.add(top);
  }
  return [...folders].sort();
}

describe.each([
  ['README.md', '## Repository layout'],
  ['docs/architecture.md', '## The repository'],
])('the folder map of %s', (file, heading) => {
  const paths = mapPaths(file, heading);

  it('names only paths that exist', () => {
    expect(paths.length).toBeGreaterThan(10);
    for (const path of paths) expect(existsSync(join(root, path)), `${file} names ${path}`).toBe(true);
  });

  it('names every folder of the tree', () => {
    const named = (folder: string) => paths.some((path) => path === folder || path.startsWith(`${folder}/`));
    expect(foldersToName().filter((folder) => !named(folder))).toEqual([]);
  });
});
