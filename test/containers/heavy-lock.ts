import { spawn } from 'node:child_process';

const HEAVY_LOCK = '/tmp/tasktier-heavy.lock';

/**
 * Holds /tmp/tasktier-heavy.lock (flock) until the returned release function is called, so only one
 * heavy suite runs at a time on the two cores. With TASKTIER_HEAVY_LOCK_HELD=1 (the caller already
 * holds it, e.g. `flock /tmp/tasktier-heavy.lock npm test`) it does nothing.
 */
export async function acquireHeavyLock(log: (line: string) => void): Promise<() => void> {
  if (process.env.TASKTIER_HEAVY_LOCK_HELD === '1') return () => {};
  // The lock lives as long as this child: `cat` exits when its stdin closes (release, or this
  // process dying), and flock with it.
  const child = spawn('flock', [HEAVY_LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const notice = setTimeout(() => log(`waiting for ${HEAVY_LOCK} (another heavy suite is running)`), 1000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`flock ${HEAVY_LOCK} exited with ${code}`)));
    });
  } finally {
    clearTimeout(notice);
  }
  return () => {
    child.stdin.end();
  };
}
