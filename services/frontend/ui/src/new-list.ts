import { ApiError, createList } from './api.ts';

/**
 * The list of a visit to `/`, which does not exist yet. Creating one per visit let anyone fill
 * the database by loading a page, so it is created (POST /api/lists) by the first todo added.
 * After the server refused with Retry-After, asking again before that time fails at once with
 * the same answer instead of spending another request that would be refused too (todos typed in
 * quick succession all ask).
 */
export class NewList {
  private creating: Promise<string> | undefined;
  private refused: { error: ApiError; until: number } | undefined;

  constructor(private readonly onCreated: (listId: string) => void) {}

  /** The new list's id, once it exists. */
  create(): Promise<string> {
    const refused = this.refused;
    if (refused && Date.now() < refused.until) {
      const { message, status, unavailable, type } = refused.error;
      const left = Math.ceil((refused.until - Date.now()) / 1000);
      return Promise.reject(new ApiError(message, status, unavailable, left, type));
    }
    this.creating ??= createList().then(
      (list) => {
        this.onCreated(list.id);
        return list.id;
      },
      (error: unknown) => {
        this.creating = undefined;
        if (error instanceof ApiError && error.retryAfter !== undefined) {
          this.refused = { error, until: Date.now() + error.retryAfter * 1000 };
        }
        throw error;
      },
    );
    return this.creating;
  }
}
