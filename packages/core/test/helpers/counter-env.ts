import type { BackendEntityStore, CacheStore } from '@shardcount/storage';

/** Where a counter test suite runs: one store and one cache, shared by its tests. */
export interface CounterTestEnv {
  /** The entity store (a fresh namespace when it is Datastore). */
  readonly store: BackendEntityStore;
  /** The cache. */
  readonly cache: CacheStore;
  /** Cache key prefix unique to this environment, so parallel test files never share totals. */
  readonly cacheKeyPrefix: string;
  /** Releases the store and the cache. */
  close(): Promise<void>;
}

/** Settings of the shared suite for one adapter pair. */
export interface CounterSuiteSettings {
  /** Label of the adapter pair, e.g. `memory` or `datastore emulator + memcached`. */
  readonly label: string;
  /** Makes the environment (called once, in `beforeAll`). */
  readonly makeEnv: () => Promise<CounterTestEnv>;
  /** Increments per sequential scenario (the Java design's 50). */
  readonly sequentialIncrements: number;
}
