import { connect } from 'node:net';
import { getFreePort, waitFor } from '@tasktier/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { configWith } from '../src/config.ts';
import { describeConnectionError } from '../src/redis/connection-error.ts';

/** The error a real connect to a closed port on 127.0.0.1 gets (ECONNREFUSED, with its address). */
async function refusedConnect(port: number): Promise<Error> {
  return await new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', (error) => resolve(error));
  });
}

describe('the redis connection error log line', () => {
  const apps: Awaited<ReturnType<typeof buildApp>>[] = [];
  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  it('names the refused address and code when Redis is not there (not "[object Object]")', async () => {
    const port = await getFreePort();
    const lines: string[] = [];
    const app = await buildApp(configWith({ REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMITS: 'off' }), {
      logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } },
    });
    apps.push(app);
    await app.ready();
    const line = await waitFor('a redis connection error logged', () =>
      lines.find((entry) => entry.includes('redis connection error')),
    );
    const logged = JSON.parse(line) as { error?: { message?: string; code?: string; address?: string; port?: number } };
    expect(line).not.toContain('[object Object]');
    expect(logged.error).toMatchObject({ code: 'ECONNREFUSED', address: '127.0.0.1', port });
    expect(logged.error?.message).toContain(`127.0.0.1:${port}`);
  });

  it("a dual-stack connect's AggregateError (empty message) is described by its attempts", async () => {
    const port = await getFreePort();
    const attempts = [await refusedConnect(port), await refusedConnect(port)];
    const aggregate = Object.assign(new AggregateError(attempts), { code: 'ECONNREFUSED' });
    expect(aggregate.message).toBe('');
    const described = describeConnectionError(aggregate);
    expect(described.type).toBe('AggregateError');
    expect(described.code).toBe('ECONNREFUSED');
    expect(described.message).toContain(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(described.errors).toHaveLength(2);
    expect(described.errors?.[0]).toMatchObject({ syscall: 'connect', address: '127.0.0.1', port });
  });

  it('never copies the failed command (AUTH carries the password)', () => {
    // As ioredis rejects a command: the reply's message, with the command attached.
    const error = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'auth', args: ['backend', 'hunter2-secret'] },
    });
    const described = describeConnectionError(error);
    expect(JSON.stringify(described)).not.toContain('hunter2-secret');
    expect(described.message).toBe('WRONGPASS invalid username-password pair');
  });

  it('a value that is not an Error, or whose message is not a string, still says what it is', () => {
    expect(describeConnectionError({ message: { reason: 'x' }, code: 'ETIMEDOUT' })).toEqual({
      type: 'Object',
      message: 'no message',
      code: 'ETIMEDOUT',
    });
    expect(describeConnectionError('socket closed')).toEqual({ type: 'string', message: 'socket closed' });
  });
});
