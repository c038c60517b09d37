import { afterEach, describe, expect, it, vi } from 'vitest';
import { DueQueue } from '../../src/server/hub/DueQueue.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('DueQueue', () => {
  it('fires each item at its due time, in order, on one timer', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(0);
    const fired: string[] = [];
    const q = new DueQueue<string>(Date.now, (x) => fired.push(x));
    q.add('b', 200);
    q.add('c', 300);
    q.add('a', 100); // out of order: inserted in place
    q.add('a2', 100); // a tie keeps insertion order
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a', 'a2']);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual(['a', 'a2', 'b', 'c']);
    expect(q.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes an item before it fires, re-arming for the next one', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(0);
    const fired: string[] = [];
    const q = new DueQueue<string>(Date.now, (x) => fired.push(x));
    q.add('a', 100);
    q.add('b', 100);
    q.add('c', 500);
    expect(q.remove('a', 100)).toBe(true);
    expect(q.remove('a', 100)).toBe(false);
    expect(q.remove('c', 100)).toBe(false); // not at that time
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['b']);
    expect(q.remove('c', 500)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual(['b']);
  });

  it('an item added while firing runs at its own time; close stops everything', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(0);
    const fired: number[] = [];
    const q: DueQueue<number> = new DueQueue<number>(Date.now, (n) => {
      fired.push(n);
      if (n < 3) q.add(n + 1, Date.now() + 50);
    });
    q.add(1, 10);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual([1, 2, 3]);
    q.add(9, 1000);
    q.close();
    vi.advanceTimersByTime(2000);
    expect(fired).toEqual([1, 2, 3]);
  });
});
