export interface RateLimits {
  /** Frames per second, sustained. */
  readonly rateLimit: number;
  /** Frames at once. */
  readonly rateBurst: number;
  /** The clock (Date.now unless a test supplies its own). */
  readonly now?: () => number;
}

/**
 * Token bucket for one connection: `rateLimit` frames per second sustained, `rateBurst` at once. A
 * client that goes on sending after the bucket is empty is flooding, and `take` says so once it
 * has sent another whole burst's worth of dropped frames without pausing. The limits are one
 * object shared by every connection of a server, not copied into each.
 */
export class RateLimiter {
  readonly #limits: RateLimits;
  #tokens: number;
  #last: number;
  #dropped = 0;

  constructor(limits: RateLimits) {
    this.#limits = limits;
    this.#tokens = limits.rateBurst;
    this.#last = (limits.now ?? Date.now)();
  }

  /** 'ok' to go on, 'drop' to refuse this frame, 'flood' to close the connection. */
  take(): 'ok' | 'drop' | 'flood' {
    const { rateLimit, rateBurst, now } = this.#limits;
    const t = (now ?? Date.now)();
    // Date.now() can step backwards (NTP); that is no time passing, not a debt of tokens.
    const refill = (Math.max(0, t - this.#last) / 1000) * rateLimit;
    this.#last = t;
    this.#tokens = Math.min(rateBurst, this.#tokens + refill);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      if (this.#tokens >= 1) this.#dropped = 0;
      return 'ok';
    }
    this.#dropped += 1;
    return this.#dropped > rateBurst ? 'flood' : 'drop';
  }
}
