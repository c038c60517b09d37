import { describe, expect, it } from 'vitest';
import { IpLimiter } from '../../src/server/routes/IpLimiter.js';

describe('IpLimiter', () => {
  it('allows a burst per address, then refills at the per-minute rate', () => {
    let now = 0;
    const limiter = new IpLimiter({ perMinute: 6, burst: 2, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false]);
    expect(limiter.take('b')).toBe(true); // another address has its own bucket
    now += 9_000; // 6 a minute is one every 10 s
    expect(limiter.take('a')).toBe(false);
    now += 1_000;
    expect(limiter.take('a')).toBe(true);
  });

  it('forgets addresses once their bucket is full again', () => {
    let now = 0;
    const limiter = new IpLimiter({ perMinute: 60, burst: 5, now: () => now });
    for (let i = 0; i < 100; i++) limiter.take(`10.0.0.${i}`);
    expect(limiter.size).toBe(100);
    now += 60_000;
    limiter.take('10.0.1.1');
    expect(limiter.size).toBe(1);
  });

  it('a clock stepping backwards costs nothing', () => {
    let now = 100_000;
    const limiter = new IpLimiter({ perMinute: 60, burst: 1, now: () => now });
    expect(limiter.take('a')).toBe(true);
    now -= 50_000;
    expect(limiter.take('a')).toBe(false);
    now += 1_000;
    expect(limiter.take('a')).toBe(true);
  });
});
