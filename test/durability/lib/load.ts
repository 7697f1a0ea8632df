import { setTimeout as delay } from 'node:timers/promises';
import { type Api, isProblem } from './api.ts';

/** One write the client sent, and what became of it. Times are performance.now() milliseconds. */
export interface WriteOp {
  kind: 'create' | 'update';
  worker: number;
  listId: string;
  todoId?: string;
  title: string;
  sentAt: number;
  doneAt: number;
  status: number; // 0: no HTTP answer
  problem: boolean;
}

export const acknowledged = (op: WriteOp) => op.status >= 200 && op.status < 300;

/**
 * Steady write load through the API: one worker per list, each creating todos one after another
 * and marking every third one it created done. Every answer is recorded, so a test can compare
 * what the API acknowledged with what survived.
 */
export class WriteLoad {
  readonly ops: WriteOp[] = [];
  private running = true;
  private readonly workers: Promise<void>[];

  constructor(
    private readonly api: Api,
    listIds: string[],
  ) {
    this.workers = listIds.map((listId, worker) => this.work(worker, listId));
  }

  private async send(op: Omit<WriteOp, 'sentAt' | 'doneAt' | 'status' | 'problem'>, body: unknown) {
    const method = op.kind === 'create' ? 'POST' : 'PATCH';
    const path = `/api/lists/${op.listId}/todos${op.kind === 'update' ? `/${op.todoId}` : ''}`;
    const sentAt = performance.now();
    let status = 0;
    let problem = false;
    let todoId = op.todoId;
    try {
      const result = await this.api.request<{ id?: string }>(method, path, body, 5000);
      status = result.status;
      problem = isProblem(result);
      if (op.kind === 'create' && status === 201) todoId = result.body.id;
    } catch {
      status = 0;
    }
    const done: WriteOp = { ...op, todoId, sentAt, doneAt: performance.now(), status, problem };
    this.ops.push(done);
    return done;
  }

  private async work(worker: number, listId: string): Promise<void> {
    const created: string[] = [];
    for (let n = 0; this.running; n++) {
      let op: WriteOp;
      if (n % 3 === 2 && created.length > 0) {
        const todoId = created.shift()!;
        op = await this.send(
          { kind: 'update', worker, listId, todoId, title: `w${worker}-${n} done` },
          {
            completed: true,
            title: `w${worker}-${n} done`,
          },
        );
      } else {
        op = await this.send(
          { kind: 'create', worker, listId, title: `w${worker}-${n}` },
          { title: `w${worker}-${n}` },
        );
        if (acknowledged(op) && op.todoId) created.push(op.todoId);
      }
      // A client backs off a little after a failure instead of spinning (Retry-After says 1 s).
      if (!acknowledged(op)) await delay(20);
    }
  }

  count(filter: (op: WriteOp) => boolean): number {
    let n = 0;
    for (const op of this.ops) if (filter(op)) n++;
    return n;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}
