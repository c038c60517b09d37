/**
 * A token bucket per client address, for HTTP endpoints that anyone can call: `perMinute`
 * requests a minute sustained, `burst` at once. Buckets that have refilled are forgotten, so the
 * map only holds addresses that were busy recently.
 */
export class IpLimiter {
  readonly #buckets = new Map<string, { tokens: number; last: number }>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #lastSweep: number;

  constructor(options: { perMinute: number; burst: number; now?: () => number }) {
    this.#perMs = options.perMinute / 60_000;
    this.#burst = options.burst;
    this.#now = options.now ?? Date.now;
    this.#lastSweep = this.#now();
  }

  /** True when `ip` may go on; false when it has used up its budget for now. */
  take(ip: string): boolean {
    const now = this.#now();
    this.#sweep(now);
    const bucket = this.#buckets.get(ip) ?? { tokens: this.#burst, last: now };
    // The clock can step backwards (NTP): that is no time passing, not a debt of tokens.
    bucket.tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.last) * this.#perMs);
    bucket.last = now;
    this.#buckets.set(ip, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** How many addresses are being tracked (tests). */
  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    const refillMs = this.#burst / this.#perMs;
    if (now - this.#lastSweep < Math.min(60_000, refillMs)) return;
    this.#lastSweep = now;
    for (const [ip, bucket] of this.#buckets) {
      if (now - bucket.last >= refillMs) this.#buckets.delete(ip);
    }
  }
}
