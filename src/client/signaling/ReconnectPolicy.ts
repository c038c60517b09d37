/** Decides how long to wait before the next reconnect attempt; null means give up. */
export interface ReconnectPolicy {
  nextDelayMs(attempt: number): number | null;
}

/**
 * Exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at `maxMs`. Jitter keeps a server
 * restart from being met by every client in the same millisecond. It never gives up: a chat app
 * left open should come back by itself when the network does.
 */
export class BackoffPolicy implements ReconnectPolicy {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;

  constructor(options: { baseMs?: number; maxMs?: number; random?: () => number } = {}) {
    this.#baseMs = options.baseMs ?? 500;
    this.#maxMs = options.maxMs ?? 15_000;
    this.#random = options.random ?? Math.random;
  }

  nextDelayMs(attempt: number): number | null {
    const exp = Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(attempt, 16));
    return Math.round(exp * (0.75 + this.#random() * 0.5));
  }
}
