import type { CreatedList, Problem, Todo } from '@tasktier/contract';

/** A failed API call. `unavailable` means the server could not be reached or answered 502/503/504. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly unavailable: boolean,
  ) {
    super(message);
  }
}

const TIMEOUT_MS = 15_000;

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as Problem).detail === 'string';
}

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      // Lists are private to whoever has the link: keep them out of the browser's HTTP cache
      // (a refresh is only asked for when the revision changed, so a 304 would not save anything).
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new ApiError('the server cannot be reached', 0, true);
  }
  if (response.ok) return response;
  let detail = `${response.status} ${response.statusText}`;
  try {
    const payload: unknown = await response.json();
    if (isProblem(payload)) detail = payload.detail;
  } catch {
    // not a problem+json body: keep the status line
  }
  throw new ApiError(
    detail,
    response.status,
    response.status === 502 || response.status === 503 || response.status === 504,
  );
}

const listPath = (listId: string) => `/api/lists/${encodeURIComponent(listId)}`;

export async function createList(): Promise<CreatedList> {
  return (await call('POST', '/api/lists')).json() as Promise<CreatedList>;
}

/**
 * The todos and the list's revision: the backend's ETag without its quotes, the same string as
 * the `revision` of its events (undefined if it sent none).
 */
export async function getTodos(listId: string): Promise<{ todos: Todo[]; revision: string | undefined }> {
  const response = await call('GET', `${listPath(listId)}/todos`);
  const revision = /^(?:W\/)?"([^"]*)"$/.exec(response.headers.get('etag') ?? '')?.[1];
  return { todos: (await response.json()) as Todo[], revision };
}

export async function addTodo(listId: string, title: string): Promise<Todo> {
  return (await call('POST', `${listPath(listId)}/todos`, { title })).json() as Promise<Todo>;
}

export async function updateTodo(listId: string, todoId: string, patch: { title?: string; completed?: boolean }) {
  await call('PATCH', `${listPath(listId)}/todos/${encodeURIComponent(todoId)}`, patch);
}

export async function deleteTodo(listId: string, todoId: string): Promise<void> {
  try {
    await call('DELETE', `${listPath(listId)}/todos/${encodeURIComponent(todoId)}`);
  } catch (error) {
    // Already gone (someone else deleted it): that is what we wanted.
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
}

export function eventsUrl(listId: string): string {
  return `${listPath(listId)}/events`;
}
