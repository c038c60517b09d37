/**
 * Items due at given times, served by one timer for all of them. Every signed-in session needs
 * fresh TURN credentials at 80% of their lifetime; a Node timer each (a Timeout object, a closure
 * and a slot in the timer list) is a few hundred bytes per connection for something that fires
 * once an hour. Here a session costs one small entry in a sorted array. Sessions signing in with
 * the same credential lifetime are due in the order they signed in, so an insert is nearly always
 * an append.
 */
export class DueQueue<T> {
  /** Sorted by due time, ties in insertion order. */
  readonly #entries: { item: T; due: number }[] = [];
  readonly #now: () => number;
  readonly #fire: (item: T) => void;
  #timer: NodeJS.Timeout | null = null;
  #timerDue = Infinity;

  constructor(now: () => number, fire: (item: T) => void) {
    this.#now = now;
    this.#fire = fire;
  }

  get size(): number {
    return this.#entries.length;
  }

  add(item: T, due: number): void {
    const entries = this.#entries;
    let at = entries.length;
    if (at > 0 && entries[at - 1]!.due > due) {
      let lo = 0;
      while (lo < at) {
        const mid = (lo + at) >>> 1;
        if (entries[mid]!.due <= due) lo = mid + 1;
        else at = mid;
      }
    }
    entries.splice(at, 0, { item, due });
    this.#arm();
  }

  /** Takes back an item added with `due`; false when it is not there (already fired). */
  remove(item: T, due: number): boolean {
    const entries = this.#entries;
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid]!.due < due) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < entries.length && entries[i]!.due === due; i++) {
      if (entries[i]!.item === item) {
        entries.splice(i, 1);
        if (i === 0) this.#arm();
        return true;
      }
    }
    return false;
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = Infinity;
    this.#entries.length = 0;
  }

  #arm(): void {
    const head = this.#entries[0];
    if (head === undefined) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#timerDue = Infinity;
      return;
    }
    if (this.#timer && this.#timerDue === head.due) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = head.due;
    this.#timer = setTimeout(() => {
      this.#run();
    }, Math.max(0, head.due - this.#now()));
    this.#timer.unref();
  }

  #run(): void {
    this.#timer = null;
    this.#timerDue = Infinity;
    const now = this.#now();
    let n = 0;
    while (n < this.#entries.length && this.#entries[n]!.due <= now) n++;
    for (const { item } of this.#entries.splice(0, n)) this.#fire(item);
    this.#arm();
  }
}
