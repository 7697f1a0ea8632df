/**
 * What a `redis connection error` log line says about the error ioredis emitted: enough to act on
 * (which address refused, timed out or reset, with which code) and nothing more. A connect to a
 * name with both an IPv6 and an IPv4 address (Node's autoSelectFamily, `localhost`) fails with an
 * AggregateError whose own message is empty: the attempts are in `errors`. Reply errors carry the
 * failed command with its arguments (a password for AUTH, keys with list ids): never copied.
 */
export interface ConnectionErrorLog {
  type: string;
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  /** The attempts of an AggregateError, at most MAX_ATTEMPTS. */
  errors?: ConnectionErrorLog[];
}

const MAX_ATTEMPTS = 4;
const MAX_MESSAGE = 300;

export function describeConnectionError(error: unknown, depth = 0): ConnectionErrorLog {
  if (typeof error !== 'object' || error === null) {
    return { type: typeof error, message: String(error).slice(0, MAX_MESSAGE) };
  }
  const fields = error as Record<string, unknown>;
  const nested =
    error instanceof AggregateError && depth === 0
      ? (error.errors as unknown[]).slice(0, MAX_ATTEMPTS).map((inner) => describeConnectionError(inner, depth + 1))
      : [];
  const own = typeof fields.message === 'string' ? fields.message : '';
  // An empty message says nothing: the attempts' messages do.
  const message = own !== '' ? own : nested.map((inner) => inner.message).join('; ') || 'no message';
  const string = (key: string) => (typeof fields[key] === 'string' ? { [key]: fields[key] as string } : {});
  const number = (key: string) => (typeof fields[key] === 'number' ? { [key]: fields[key] as number } : {});
  return {
    type: error instanceof Error ? error.name : (error.constructor?.name ?? 'object'),
    message: message.slice(0, MAX_MESSAGE),
    ...string('code'),
    ...number('errno'),
    ...string('syscall'),
    ...string('address'),
    ...number('port'),
    ...(nested.length > 0 ? { errors: nested } : {}),
  };
}
