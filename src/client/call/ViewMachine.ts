import { type Signal, signal } from '@preact/signals';

export class InvalidStateError extends Error {
  readonly code = 'invalid_state';
  constructor(what: string, from: string, to: string) {
    super(`${what} cannot go from ${from} to ${to}`);
    this.name = 'InvalidStateError';
  }
}

/**
 * A view (a signal the UI renders) whose `state` moves only along a transition table: the call
 * and the group call keep their state this way, and a move the table does not allow is a bug.
 */
export class ViewMachine<S extends string, V extends { state: S }> {
  readonly view: Signal<V>;
  readonly #next: Record<S, readonly S[]>;
  readonly #what: string;

  constructor(what: string, initial: V, next: Record<S, readonly S[]>) {
    this.#what = what;
    this.#next = next;
    this.view = signal(initial);
  }

  get value(): V {
    return this.view.value;
  }

  set(patch: Partial<V>): void {
    this.view.value = { ...this.view.value, ...patch };
  }

  /** Moves to `to` (or only patches when already there); throws for a move the table forbids. */
  go(to: S, patch: Partial<V> = {}): void {
    const from = this.view.value.state;
    if (from === to) {
      this.set(patch);
      return;
    }
    if (!this.#next[from].includes(to)) throw new InvalidStateError(this.#what, from, to);
    console.debug(`${this.#what}: ${from} -> ${to}`);
    this.set({ ...patch, state: to });
  }
}
