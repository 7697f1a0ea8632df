import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const COLORS = ['\x1b[31m', '\x1b[32m', '\x1b[34m', '\x1b[35m', '\x1b[36m'];

/** Spawns a child whose every output line is prefixed with its name, like `docker compose up`. */
export function spawnPrefixed(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  index: number,
): ChildProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const color = process.stdout.isTTY ? (COLORS[index % COLORS.length] ?? '') : '';
  const reset = color ? '\x1b[0m' : '';
  const prefix = `${color}${name.padEnd(8)}|${reset} `;
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`));
  }
  return child;
}

/** Resolves when the child exits (immediately if it already has). */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
