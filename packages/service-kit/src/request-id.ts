const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * An incoming X-Request-Id (from a client, the Ingress or the frontend) is kept only if it is
 * short and plain, so it is safe in logs and headers; otherwise the service makes its own.
 */
export function acceptedRequestId(header: string | string[] | undefined): string | undefined {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : undefined;
}
