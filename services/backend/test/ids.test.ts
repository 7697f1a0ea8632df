import { requestIdFrom } from '@tasktier/service-kit';
import { describe, expect, it } from 'vitest';
import { newTodoId } from '../src/lib/ids.ts';

describe('ids from the random pool', () => {
  it('are well-formed and never repeat, also across pool refills', () => {
    const seen = new Set<string>();
    // Both draw from service-kit's pool, which holds 1,024 ids of 12 bytes: 5,000 draws refill it several times.
    for (let i = 0; i < 5000; i++) {
      const todoId = newTodoId();
      const requestId = requestIdFrom(undefined);
      expect(todoId).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(requestId).toMatch(/^[A-Za-z0-9_-]{16}$/);
      seen.add(todoId).add(requestId);
    }
    expect(seen.size).toBe(10_000);
  });

  it('keeps a plain request id the client sent', () => {
    expect(requestIdFrom('abc-123')).toBe('abc-123');
    expect(requestIdFrom('a b')).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});
