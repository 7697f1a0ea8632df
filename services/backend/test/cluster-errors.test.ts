import { describe, expect, it } from 'vitest';
import { classifyRedisError, StorageUnavailableError } from '../src/redis/errors.ts';

// What a Redis Cluster answers while it changes (a failover, a reshard) is "try again" for the API
// (503 with Retry-After), never a 500: test/cluster proves it under load; these are the replies.
describe('cluster replies while the topology changes', () => {
  it.each([
    'CLUSTERDOWN The cluster is down',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'MOVED 5152 127.0.0.1:33099',
    'ASK 866 127.0.0.1:7001',
    'Too many Cluster redirections. Last error: MOVED 12 127.0.0.1:7000',
    'Failed to refresh slots cache.',
    'Command aborted due to connection close',
    'write not confirmed by 1 replica(s) in time',
  ])('%s -> storage unavailable (503)', (message) => {
    const error = message.startsWith('write not confirmed') ? new StorageUnavailableError(message) : new Error(message);
    expect(classifyRedisError(error)).toBeInstanceOf(StorageUnavailableError);
  });

  it('leaves a script error alone (a bug, not an outage)', () => {
    const error = new Error('ERR Error running script (call to f_1): @user_script:1: oops');
    expect(classifyRedisError(error)).toBe(error);
  });
});
