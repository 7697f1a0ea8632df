/** Redis could not be reached or did not answer in time: the client should retry later (503). */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}

/** Redis refused a write because maxmemory is reached with noeviction (507). */
export class StorageFullError extends Error {
  override name = 'StorageFullError';
}

/**
 * Maps a Redis client error to what it means for the API; unknown errors pass through. READONLY
 * and MASTERDOWN: a failover is under way (the primary we reach became a replica), so try again.
 * On a cluster, CLUSTERDOWN (a primary failed and its replica is not yet promoted), TRYAGAIN (a
 * slot half-migrated), MOVED/ASK left after the client ran out of redirections (the topology is
 * changing) and the client's own topology errors mean the same.
 */
export function classifyRedisError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const message = error.message;
  if (message.startsWith('OOM ')) return new StorageFullError('storage is full', { cause: error });
  if (
    error.name === 'MaxRetriesPerRequestError' ||
    /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ETIMEDOUT|ECONNRESET|EPIPE|NOAUTH|WRONGPASS|NOPERM|LOADING|MISCONF|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes|Cluster is ended|ClusterAllFailed|Command aborted due to connection close|^MOVED |^ASK /.test(
      message,
    )
  ) {
    return new StorageUnavailableError('storage unavailable', { cause: error });
  }
  return error;
}
