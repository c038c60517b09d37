/**
 * Token bucket for one connection: `rate` frames per second sustained, `burst` at once. A client
 * that goes on sending after the bucket is empty is flooding, and `take` says so once it has sent
 * another whole burst's worth of dropped frames without pausing.
 */
export class RateLimiter {
  #tokens: number;
  #last: number;
  #dropped = 0;

  constructor(
    readonly rate: number,
    readonly burst: number,
    readonly now: () => number = Date.now,
  ) {
    this.#tokens = burst;
    this.#last = now();
  }

  /** 'ok' to go on, 'drop' to refuse this frame, 'flood' to close the connection. */
  take(): 'ok' | 'drop' | 'flood' {
    const t = this.now();
    // Date.now() can step backwards (NTP); that is no time passing, not a debt of tokens.
    const refill = (Math.max(0, t - this.#last) / 1000) * this.rate;
    this.#last = t;
    this.#tokens = Math.min(this.burst, this.#tokens + refill);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      if (this.#tokens >= 1) this.#dropped = 0;
      return 'ok';
    }
    this.#dropped += 1;
    return this.#dropped > this.burst ? 'flood' : 'drop';
  }
}
