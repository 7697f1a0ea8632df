/**
 * How errors are written to the logs. Pino's default copies every enumerable property of an
 * error, and ioredis hangs the failed command on its errors (`command: {name, args}`): the args
 * hold the Redis keys, which carry list ids (credentials), and the scripts' arguments, which carry
 * todo titles. So only these fields are written, for the error and its causes.
 */
interface LoggedError {
  [key: string]: unknown;
  type: string;
  message: string;
  stack: string;
  code?: string;
  cause?: LoggedError;
}

function serializeError(error: unknown, depth = 0): LoggedError {
  if (!(error instanceof Error)) return { type: typeof error, message: String(error), stack: '' };
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    message: error.message,
    stack: error.stack ?? '',
    ...(typeof code === 'string' ? { code } : {}),
    ...(error.cause !== undefined && depth < 3 ? { cause: serializeError(error.cause, depth + 1) } : {}),
  };
}

export const logSerializers = { err: (error: unknown) => serializeError(error) };
