import { BODY_LIMIT_BYTES, TITLE_PATTERN, TITLE_PATTERN_MESSAGE } from '@tasktier/contract';
import { type ErrorMapping, sendProblem } from '@tasktier/service-kit';
import { StorageFullError, StorageUnavailableError } from './redis/errors.ts';
import { ListFullError, ListTooBigError, NotFoundError, PreconditionFailedError } from './todos/store.ts';

/**
 * The API's own errors as application/problem+json, each with a detail a person can act on: the
 * store's, validation, and the request body's. service-kit answers the rest (unknown routes,
 * other 4xx, 500).
 */
export const apiProblems: ErrorMapping = (error, _request, reply) => {
  if (error instanceof NotFoundError) {
    const detail =
      error.what === 'list' ? 'no list has this id (it may have been mistyped)' : 'this list has no todo with this id';
    return sendProblem(
      reply,
      404,
      detail,
      `${error.what}-not-found`,
      `${error.what === 'list' ? 'List' : 'Todo'} not found`,
    );
  }
  if (error instanceof ListFullError) {
    return sendProblem(
      reply,
      409,
      `a list holds at most ${error.limit} todos; delete some before adding more`,
      'list-full',
      'List full',
    );
  }
  if (error instanceof ListTooBigError) {
    return sendProblem(
      reply,
      409,
      `a list holds at most ${error.limitBytes} bytes of todos as stored; shorten or delete some before adding more`,
      'list-too-big',
      'List too big',
    );
  }
  if (error instanceof PreconditionFailedError) {
    return sendProblem(
      reply,
      412,
      'the todo changed since the version named in If-Match (or was deleted), or If-Match names no ETag of it: read it again, then retry',
      'precondition-failed',
      'Precondition failed',
    );
  }
  if (error instanceof StorageFullError) {
    return sendProblem(
      reply,
      507,
      'storage is full: the data store reached its memory limit; reading still works, writing will once space is freed',
      'storage-full',
      'Storage full',
    );
  }
  if (error instanceof StorageUnavailableError) {
    reply.header('retry-after', '1');
    return sendProblem(reply, 503, 'the data store is unavailable; try again in a moment', 'storage-unavailable');
  }
  if (error.validation) {
    // Ajv's message names the field, e.g. "body/title must NOT have more than 1000 characters".
    // For the title pattern it would only quote the pattern: say what it means instead.
    const [first] = error.validation;
    if (first?.keyword === 'pattern' && first.params.pattern === TITLE_PATTERN) {
      const where = `${error.validationContext ?? 'body'}${first.instancePath}`;
      return sendProblem(reply, 400, `${where} ${TITLE_PATTERN_MESSAGE}`, 'validation');
    }
    return sendProblem(reply, 400, error.message, 'validation');
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return sendProblem(reply, 415, 'send the body as Content-Type: application/json', 'unsupported-media-type');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return sendProblem(reply, 413, `the request body must be at most ${BODY_LIMIT_BYTES} bytes`, 'body-too-large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return sendProblem(reply, 400, 'the request body is empty; send a JSON object', 'validation');
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return sendProblem(reply, 400, `the request body is not valid JSON: ${error.message}`, 'malformed-json');
  }
  return undefined;
};
