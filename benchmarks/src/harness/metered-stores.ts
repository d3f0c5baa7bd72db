import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import type { Backend } from '../backends/backend.js';
import type { CallMeter, MeterReading } from './call-meter.js';

/**
 * An entity store and a cache from the backend, wrapped in the counting wrappers of
 * `@shardcount/storage/testing` (no fault is ever armed): their `calls` give the round
 * trips of each case, and the store's `onRetry` hook counts contention retries. Subjects
 * and baselines of a scenario share one instance, so they pay the same (thin) wrapper cost.
 */
export class MeteredStores implements CallMeter {
  readonly store: FaultInjectingEntityStore;
  readonly cache: FaultInjectingCacheStore;
  /** Transaction retries so far; a box, because the store's hook is set before `this` exists. */
  readonly #retries: { count: number };

  private constructor(
    store: FaultInjectingEntityStore,
    cache: FaultInjectingCacheStore,
    retries: { count: number },
  ) {
    this.store = store;
    this.cache = cache;
    this.#retries = retries;
  }

  /** Opens a fresh store (its own Datastore namespace on the real backend) and a cache. */
  static async open(backend: Backend): Promise<MeteredStores> {
    const retries = { count: 0 };
    const store = new FaultInjectingEntityStore(await backend.createEntityStore(), {
      onRetry: () => {
        retries.count++;
      },
    });
    return new MeteredStores(
      store,
      new FaultInjectingCacheStore(backend.createCacheStore()),
      retries,
    );
  }

  read(): MeterReading {
    return { store: this.store.calls, cache: this.cache.calls, retries: this.#retries.count };
  }

  /** A meter that charges only the cache (for cases that never touch the store). */
  cacheOnly(): CallMeter {
    return {
      read: () => ({ store: undefined, cache: this.cache.calls, retries: this.#retries.count }),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.store.close(), this.cache.close()]);
  }
}
