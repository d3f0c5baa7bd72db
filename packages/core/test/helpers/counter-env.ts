import { ShardedCounterService, type ShardedCounterServiceOptions } from '@shardcount/core';
import type { BackendEntityStore, CacheStore } from '@shardcount/storage';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll } from 'vitest';

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

/** What a suite gets from {@link useCounterEnv}. */
export interface CounterSuiteScope {
  /** The environment, once `beforeAll` has made it. */
  readonly env: CounterTestEnv;
  /** A fresh random counter name starting with `label`. */
  unique(label: string): string;
  /** A service on the environment's store and cache, with `overrides`. */
  service(overrides?: Partial<ShardedCounterServiceOptions>): ShardedCounterService;
}

/**
 * Makes the suite's environment in `beforeAll`, closes it in `afterAll`, and gives the
 * helpers every counter suite uses.
 */
export function useCounterEnv(settings: CounterSuiteSettings): CounterSuiteScope {
  let made: CounterTestEnv | undefined;
  beforeAll(async () => {
    made = await settings.makeEnv();
  });
  afterAll(async () => {
    await made?.close();
  });
  const scope: CounterSuiteScope = {
    get env(): CounterTestEnv {
      if (made === undefined) throw new Error('the counter test environment is not made yet');
      return made;
    },
    unique: (label) => `${label}-${uuidv4()}`,
    service: (overrides = {}) =>
      new ShardedCounterService({
        store: scope.env.store,
        cache: scope.env.cache,
        cacheKeyPrefix: scope.env.cacheKeyPrefix,
        ...overrides,
      }),
  };
  return scope;
}
