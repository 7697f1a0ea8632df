import { describe, expect, it } from 'vitest';
import { ListBodyCache } from '../src/lib/list-cache.ts';

const body = (bytes: number) => Buffer.alloc(bytes, 'x');

describe('ListBodyCache', () => {
  it('answers the body and version it was given for a key', () => {
    const cache = new ListBodyCache();
    cache.set('a', 3, Buffer.from('[1]'));
    expect(cache.get('a')?.version).toBe(3);
    expect(cache.get('a')?.body.toString()).toBe('[1]');
    expect(cache.get('b')).toBeUndefined();
  });

  it('replaces an entry without counting its old body', () => {
    const cache = new ListBodyCache(1000, 1000);
    cache.set('a', 1, body(400));
    cache.set('a', 2, body(500));
    expect(cache.size).toBe(1);
    expect(cache.heldBytes).toBe(501);
    expect(cache.get('a')?.version).toBe(2);
  });

  it('stays within its byte budget by dropping the oldest entries', () => {
    const cache = new ListBodyCache(1000, 1000);
    cache.set('a', 1, body(400));
    cache.set('b', 1, body(400));
    cache.set('c', 1, body(400));
    expect(cache.heldBytes).toBeLessThanOrEqual(1000);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
  });

  it('keeps big bodies up to the per-body limit and forgets a key whose new body is over it', () => {
    const cache = new ListBodyCache(10_000, 5000);
    cache.set('big', 1, body(4000));
    expect(cache.get('big')?.body.length).toBe(4000);
    cache.set('big', 2, body(6000));
    expect(cache.get('big')).toBeUndefined();
    expect(cache.heldBytes).toBe(0);
  });
});
