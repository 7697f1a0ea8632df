import { describe, expect, it } from 'vitest';
import { ListBodyCache } from '../src/todos/read.ts';

const body = (bytes: number) => Buffer.alloc(bytes, 'x');

describe('ListBodyCache', () => {
  it('answers the body and revision it was given for a key', () => {
    const cache = new ListBodyCache();
    cache.set('a', '3.abc', Buffer.from('[1]'));
    expect(cache.get('a')?.revision).toBe('3.abc');
    expect(cache.get('a')?.body.toString()).toBe('[1]');
    expect(cache.get('b')).toBeUndefined();
  });

  it('replaces an entry without counting its old body', () => {
    const cache = new ListBodyCache(1000, 1000);
    cache.set('a', '1.x', body(400));
    cache.set('a', '2.y', body(500));
    expect(cache.size).toBe(1);
    expect(cache.heldBytes).toBe(501);
    expect(cache.get('a')?.revision).toBe('2.y');
  });

  it('keeps the body of the read answered last, even when its version is lower (Redis was restored)', () => {
    const cache = new ListBodyCache();
    const beforeRestore = cache.ticket();
    cache.set('a', '9.before', Buffer.from('[9]'), beforeRestore);
    const afterRestore = cache.ticket();
    cache.set('a', '6.restored', Buffer.from('[6]'), afterRestore);
    expect(cache.get('a')?.revision).toBe('6.restored');
    expect(cache.get('a')?.body.toString()).toBe('[6]');
  });

  it('never lets a slow reply replace the body of a read sent after it', () => {
    const cache = new ListBodyCache();
    const slow = cache.ticket();
    const fast = cache.ticket();
    cache.set('a', '8.new', Buffer.from('[8]'), fast);
    cache.set('a', '7.old', Buffer.from('[7]'), slow);
    expect(cache.get('a')?.revision).toBe('8.new');
  });

  it('stays within its byte budget by dropping the oldest entries', () => {
    const cache = new ListBodyCache(1000, 1000);
    cache.set('a', '1.x', body(400));
    cache.set('b', '1.x', body(400));
    cache.set('c', '1.x', body(400));
    expect(cache.heldBytes).toBeLessThanOrEqual(1000);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
  });

  it('keeps big bodies up to the per-body limit and forgets a key whose new body is over it', () => {
    const cache = new ListBodyCache(10_000, 5000);
    cache.set('big', '1.x', body(4000));
    expect(cache.get('big')?.body.length).toBe(4000);
    cache.set('big', '2.y', body(6000));
    expect(cache.get('big')).toBeUndefined();
    expect(cache.heldBytes).toBe(0);
  });
});
