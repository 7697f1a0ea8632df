import type { CreatedList, Problem, Todo } from '@tasktier/contract';

const OVERLOADED = 'urn:tasktier:problem:overloaded';

/** A failed API call. `unavailable` means the server could not be reached or answered 502/503/504. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly unavailable: boolean,
    /** Seconds the server asked us to wait before trying again (its Retry-After), if it said. */
    readonly retryAfter?: number,
    /** The problem type (`urn:tasktier:problem:…`), if the answer was problem+json. */
    readonly type?: string,
  ) {
    super(message);
  }

  /**
   * Refused for now rather than broken: too many requests from this client's network (429), or
   * the server is at its capacity (503 overloaded). A 503 because the data store is down is not
   * this: that is the server being unavailable.
   */
  get limited(): boolean {
    return this.retryAfter !== undefined && (this.status === 429 || (this.status === 503 && this.type === OVERLOADED));
  }
}

const TIMEOUT_MS = 15_000;

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as Problem).detail === 'string';
}

/** Retry-After is either a number of seconds or an HTTP date. */
function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The error for an answer that is not 2xx, with the server's detail if it sent problem+json. */
export async function errorFrom(response: Response): Promise<ApiError> {
  let detail = `${response.status} ${response.statusText}`;
  let type: string | undefined;
  try {
    const payload: unknown = await response.json();
    if (isProblem(payload)) {
      detail = payload.detail;
      type = payload.type;
    }
  } catch {
    // not a problem+json body: keep the status line
  }
  return new ApiError(
    detail,
    response.status,
    response.status === 502 || response.status === 503 || response.status === 504,
    parseRetryAfter(response.headers.get('retry-after')),
    type,
  );
}

export const unreachable = () => new ApiError('the server cannot be reached', 0, true);

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
    throw unreachable();
  }
  if (response.ok) return response;
  throw await errorFrom(response);
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
