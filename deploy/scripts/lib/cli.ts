import { spawn } from 'node:child_process';

/**
 * What the deploy scripts share: errors that end a run with one line and an exit code, progress
 * output, and a kubectl runner. Exit codes (the same for every script):
 *   0 done; 1 the change failed (and was undone where the script says so); 2 bad input (nothing
 *   changed); 3 no kubectl or no access to the cluster (nothing changed); 4 the undo itself failed
 *   (a person must look).
 */

export class ScriptError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Bad input: an unknown command or flag, a missing value, an unknown overlay. Nothing changed. */
export class UsageError extends ScriptError {
  constructor(message: string) {
    super(`${message} (see --help)`, 2);
  }
}

/** kubectl is missing or cannot reach the cluster. Nothing changed. */
export class PreflightError extends ScriptError {
  constructor(message: string) {
    super(message, 3);
  }
}

/** The change failed. */
export class FailedError extends ScriptError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** Undoing a failed change failed too. */
export class UndoFailedError extends ScriptError {
  constructor(message: string) {
    super(message, 4);
  }
}

/** One line: kubectl's multi-line errors are joined, so the last line a user sees says it all. */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join('; ')
    .slice(0, 600);
}

/**
 * What kubectl said when it failed: its last line (client-go's log lines, `E1125 12:00:00 ...`,
 * come first and repeat; the last line is kubectl's own summary).
 */
export function kubectlMessage(result: KubectlResult): string {
  const lines = (result.stderr || result.stdout)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const own = lines.filter((line) => !/^[EWIF]\d{4} \d\d:\d\d:\d\d/.test(line));
  return (own.at(-1) ?? lines.at(-1) ?? `kubectl exited ${result.code}`).slice(0, 400);
}

/** Progress goes to stdout; the single error line to stderr. */
export function progress(script: string, message: string): void {
  process.stdout.write(`${script}: ${message}\n`);
}

/** Runs the script's main and turns any error into one line on stderr and its exit code. */
export async function runMain(script: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    const code = error instanceof ScriptError ? error.exitCode : 1;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${script}: ${oneLine(message)}\n`);
    process.exitCode = code;
  }
}

/** node:util parseArgs errors, as one usage line. */
export function usageFromParseError(error: unknown): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  // "Unknown option '--x'. To specify a positional argument starting with a '-', ..." -> first sentence.
  return new UsageError(message.split('. ')[0]!.replace(/\.$/, ''));
}

/** A Kubernetes duration for `--timeout` (kubectl's own syntax: 90s, 5m, 1h30m). */
export function parseDuration(value: string): string {
  if (!/^(\d+h)?(\d+m)?(\d+s)?$/.test(value) || value === '') {
    throw new UsageError(`--timeout ${JSON.stringify(value)} is not a duration like 90s, 5m or 1h`);
  }
  return value;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  namespace: string;
  context?: string;
}

/**
 * kubectl with the namespace (and context) on every call. Reads get a request timeout so that an
 * unreachable cluster fails in seconds, not minutes.
 */
export class Kubectl {
  constructor(private readonly options: KubectlOptions) {}

  private globalArgs(): string[] {
    return [
      '--namespace',
      this.options.namespace,
      ...(this.options.context ? ['--context', this.options.context] : []),
    ];
  }

  run(args: string[]): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('kubectl', [...args, ...this.globalArgs()], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ENOENT'
            ? new PreflightError(
                'kubectl not found on PATH: install kubectl (with kustomize) and configure access to the cluster',
              )
            : error,
        );
      });
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  }

  /** Runs and returns stdout; a non-zero exit becomes `error(kubectl's message)`. */
  async ok(args: string[], error: (message: string) => ScriptError): Promise<string> {
    const result = await this.run(args);
    if (result.code !== 0) throw error(kubectlMessage(result));
    return result.stdout;
  }

  /** Checks that kubectl exists and the cluster answers (a read in the namespace). */
  async preflight(): Promise<void> {
    await this.ok(
      ['version', '--client', '--output=json'],
      (message) => new PreflightError(`kubectl does not run: ${message}`),
    );
    await this.ok(
      ['get', 'deployments', '--request-timeout=20s', '--output=name'],
      (message) => new PreflightError(`cannot reach the cluster (namespace ${this.options.namespace}): ${message}`),
    );
  }

  async getJson<T>(args: string[], error: (message: string) => ScriptError): Promise<T> {
    const text = await this.ok([...args, '--request-timeout=20s', '--output=json'], error);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw error(`kubectl ${args.join(' ')} did not return JSON`);
    }
  }
}

/** The parts of a Deployment the scripts read. */
export interface DeploymentJson {
  metadata: {
    name: string;
    generation?: number;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template: { spec: { containers: { name: string; image: string }[] } };
  };
  status?: { readyReplicas?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number };
}

export interface ListJson<T> {
  items: T[];
}

export function revisionOf(deployment: DeploymentJson): string | undefined {
  return deployment.metadata.annotations?.['deployment.kubernetes.io/revision'];
}

export function imageOf(deployment: DeploymentJson, container: string): string | undefined {
  return deployment.spec.template.spec.containers.find((entry) => entry.name === container)?.image;
}
