type Listener = (...args: never[]) => void;

/** A tiny typed event emitter. A listener that throws does not stop the others. */
export class Emitter<Events extends Record<string, unknown[]>> {
  readonly #listeners = new Map<keyof Events, Set<Listener>>();

  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const stored = listener as unknown as Listener;
    set.add(stored);
    return () => set.delete(stored);
  }

  emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as unknown as (...a: Events[K]) => void)(...args);
      } catch (error) {
        console.warn(`listener for ${String(event)} failed`, error);
      }
    }
  }
}
