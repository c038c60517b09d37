import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/server/transport/RateLimiter.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}

function takeN(limiter: RateLimiter, n: number): string[] {
  return Array.from({ length: n }, () => limiter.take());
}

describe('RateLimiter', () => {
  it('allows a full burst at once, then drops', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 10, rateBurst: 5, now: clock.now });
    expect(takeN(limiter, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(limiter.take()).toBe('drop');
  });

  it('refills at the sustained rate', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 10, rateBurst: 5, now: clock.now });
    takeN(limiter, 5);
    clock.advance(99);
    expect(limiter.take()).toBe('drop');
    clock.advance(1); // 100 ms at 10/s is one token
    expect(limiter.take()).toBe('ok');
    expect(limiter.take()).toBe('drop');
    clock.advance(300);
    expect(takeN(limiter, 4)).toEqual(['ok', 'ok', 'ok', 'drop']);
  });

  it('refills fractional tokens across calls', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 4, rateBurst: 3, now: clock.now });
    expect(takeN(limiter, 3)).toEqual(['ok', 'ok', 'ok']);
    // 0.4 tokens, then 0.8, then 1.2: the third attempt gets through.
    clock.advance(100);
    expect(limiter.take()).toBe('drop');
    clock.advance(100);
    expect(limiter.take()).toBe('drop');
    clock.advance(100);
    expect(limiter.take()).toBe('ok');
  });

  it('never holds more than the burst, however long the pause', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 10, rateBurst: 5, now: clock.now });
    clock.advance(3_600_000);
    expect(takeN(limiter, 6)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'drop']);
  });

  it('sustains exactly the rate', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 50, rateBurst: 1, now: clock.now });
    for (let i = 0; i < 1000; i++) {
      expect(limiter.take()).toBe('ok');
      clock.advance(20);
    }
  });

  it('calls it a flood after a further burst of dropped frames without a pause', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 10, rateBurst: 5, now: clock.now });
    takeN(limiter, 5);
    expect(takeN(limiter, 5)).toEqual(['drop', 'drop', 'drop', 'drop', 'drop']);
    expect(limiter.take()).toBe('flood');
    expect(limiter.take()).toBe('flood');
  });

  it('forgets dropped frames once the client pauses long enough to have tokens again', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 10, rateBurst: 5, now: clock.now });
    takeN(limiter, 5);
    expect(takeN(limiter, 4)).toEqual(['drop', 'drop', 'drop', 'drop']);
    clock.advance(500); // five tokens back
    expect(limiter.take()).toBe('ok');
    takeN(limiter, 4);
    // A whole new burst of drops is needed before it counts as a flood.
    expect(takeN(limiter, 5)).toEqual(['drop', 'drop', 'drop', 'drop', 'drop']);
    expect(limiter.take()).toBe('flood');
  });

  it('a single token between drops does not reset the flood count', () => {
    const clock = manualClock();
    const limiter = new RateLimiter({ rateLimit: 10, rateBurst: 2, now: clock.now });
    takeN(limiter, 2);
    expect(takeN(limiter, 2)).toEqual(['drop', 'drop']);
    clock.advance(100);
    expect(limiter.take()).toBe('ok');
    expect(limiter.take()).toBe('flood');
  });

  it('a clock that steps backwards takes no tokens away', () => {
    const clock = manualClock(10_000_000);
    const limiter = new RateLimiter({ rateLimit: 10, rateBurst: 5, now: clock.now });
    clock.set(0); // e.g. the wall clock is corrected by an hour or more
    expect(takeN(limiter, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    clock.advance(100);
    expect(limiter.take()).toBe('ok');
  });

  it('uses Date.now by default', () => {
    const limiter = new RateLimiter({ rateLimit: 1, rateBurst: 1 });
    expect(limiter.take()).toBe('ok');
    expect(limiter.take()).toBe('drop');
  });
});
