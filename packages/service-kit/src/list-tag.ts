import { createHash } from 'node:crypto';

// A list id in a path: the API's /api/lists/<id>... and the UI's /l/<id>.
const LIST_ID_IN_PATH = /^\/(?:api\/lists|l)\/([A-Za-z0-9_-]{22})(?:[/?]|$)/;

/**
 * A list id is the list's only credential, so logs never hold one. They hold this tag instead: the
 * first 8 characters (48 bits) of its SHA-256, enough to follow one list through the logs and
 * across both services, useless for finding or opening the list.
 */
export function listTag(url: string): string | undefined {
  const id = LIST_ID_IN_PATH.exec(url)?.[1];
  return id === undefined ? undefined : createHash('sha256').update(id).digest('base64url').slice(0, 8);
}
