import type { LoadContext } from './value-provider.js';

/**
 * One value provider call, shared by every read waiting on any of its keys (single flight).
 * It counts its waiters: when the last one gives up (its signal aborted or its deadline
 * passed) the provider's signal aborts, so a loader nobody waits for can stop. A waiter
 * without a signal never gives up, so a load it waits on is never aborted.
 */
export class SharedLoad {
  readonly #controller = new AbortController();
  readonly #onAbandoned: () => void;
  /** What the provider receives: built once per load. */
  readonly context: LoadContext;
  #waiters = 0;
  #settled = false;

  /**
   * @param onAbandoned - called once when the last waiter gives up before the load settled
   *   (the cache stops offering the load to new reads)
   */
  constructor(onAbandoned: () => void) {
    this.#onAbandoned = onAbandoned;
    this.context = { signal: this.#controller.signal };
  }

  /** A read waits on this load. */
  join(): void {
    this.#waiters += 1;
  }

  /** A read that joined gave up with `reason` (its typed abort or deadline error). */
  leave(reason: unknown): void {
    this.#waiters -= 1;
    if (this.#waiters > 0 || this.#settled || this.#controller.signal.aborted) return;
    this.#controller.abort(reason);
    this.#onAbandoned();
  }

  /** The provider answered or failed: nothing is aborted any more. */
  settle(): void {
    this.#settled = true;
  }
}
