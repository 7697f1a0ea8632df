import type { Problem, Todo } from '@tasktier/contract';

export interface HttpResult<T = unknown> {
  status: number;
  contentType: string;
  body: T;
}

/** A small client for the backend's API, through real HTTP. */
export class Api {
  constructor(readonly base: string) {}

  async request<T = unknown>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<HttpResult<T>> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: parsed as T };
  }

  async createList(): Promise<string> {
    const result = await this.request<{ id: string }>('POST', '/api/lists');
    if (result.status !== 201)
      throw new Error(`POST /api/lists answered ${result.status}: ${JSON.stringify(result.body)}`);
    return result.body.id;
  }

  async createTodo(listId: string, todo: { title: string; completed?: boolean; order?: number }): Promise<Todo> {
    const result = await this.request<Todo>('POST', `/api/lists/${listId}/todos`, todo);
    if (result.status !== 201) throw new Error(`POST todo answered ${result.status}: ${JSON.stringify(result.body)}`);
    return result.body;
  }

  async patchTodo(listId: string, todoId: string, patch: Partial<Pick<Todo, 'title' | 'completed' | 'order'>>) {
    const result = await this.request<Todo>('PATCH', `/api/lists/${listId}/todos/${todoId}`, patch);
    if (result.status !== 200) throw new Error(`PATCH todo answered ${result.status}: ${JSON.stringify(result.body)}`);
    return result.body;
  }

  async deleteTodo(listId: string, todoId: string): Promise<void> {
    const result = await this.request('DELETE', `/api/lists/${listId}/todos/${todoId}`);
    if (result.status >= 300) throw new Error(`DELETE todo answered ${result.status}`);
  }

  async getList(listId: string): Promise<HttpResult<Record<string, unknown>>> {
    return this.request('GET', `/api/lists/${listId}`);
  }

  async getTodos(listId: string): Promise<Todo[]> {
    const result = await this.request<Todo[]>('GET', `/api/lists/${listId}/todos`);
    if (result.status !== 200) throw new Error(`GET todos answered ${result.status}: ${JSON.stringify(result.body)}`);
    return result.body;
  }

  async status(path: string): Promise<number> {
    return (await this.request('GET', path)).status;
  }
}

export function isProblem(result: HttpResult): result is HttpResult<Problem> {
  const body = result.body as Partial<Problem> | undefined;
  return (
    result.contentType.startsWith('application/problem+json') &&
    typeof body === 'object' &&
    body !== null &&
    typeof body.type === 'string' &&
    typeof body.title === 'string' &&
    body.status === result.status &&
    typeof body.detail === 'string'
  );
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index]!, index);
      }
    }),
  );
  return results;
}
