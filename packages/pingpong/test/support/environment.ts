import type { BackendEntityStore, CacheStore } from '@shardcount/storage';
import { MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import { v4 as uuid } from 'uuid';
import { PingPongCounter, type PingPongCounterOptions } from '../../src/index.js';

/** Interval the scenarios use: one minute, moved through with the fake clock. */
export const INTERVAL_MS = 60_000;

/** A settable clock shared by the counters (and the embedded cache's TTLs). */
export class FakeClock {
  /** Current time in milliseconds since the epoch. */
  ms: number;

  /** @param startMs - initial time; the start of an epoch plus a little by default */
  constructor(startMs = Math.floor(Date.UTC(2031, 0, 1) / INTERVAL_MS) * INTERVAL_MS + 1_000) {
    this.ms = startMs;
  }

  readonly now = (): number => this.ms;

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.ms += ms;
  }

  /** Moves the clock past the end of the current epoch and its settle time. */
  closeEpoch(intervalMs = INTERVAL_MS): void {
    this.ms = (Math.floor(this.ms / intervalMs) + 1) * intervalMs + 15_000;
  }
}

/** Everything a scenario needs: fault-injecting backends, a fake clock, counters to make. */
export interface Environment {
  readonly label: string;
  /** The cache every counter of this environment uses, wrapped for faults and call counts. */
  readonly cache: FaultInjectingCacheStore;
  /** The store every counter uses, wrapped for faults and call counts. */
  readonly store: FaultInjectingEntityStore;
  readonly clock: FakeClock;
  /** A fresh namespace per environment, so parallel test files never share keys. */
  readonly namespace: string;
  /**
   * A counter on this environment's backends and clock (fresh instance: "another process").
   * Closed by {@link Environment.close}.
   */
  counter(options?: Partial<PingPongCounterOptions>): PingPongCounter;
  /** A second, independent view of the same store (its own wrapper and faults). */
  otherStore(): FaultInjectingEntityStore;
  /** Closes every counter and backend it made. */
  close(): Promise<void>;
}

/** Builds an environment from a raw cache and store (the store must be a `BackendEntityStore`). */
export function makeEnvironment(
  label: string,
  rawCache: CacheStore,
  rawStore: BackendEntityStore,
  clock: FakeClock,
  closeBackends: () => Promise<void>,
): Environment {
  const cache = new FaultInjectingCacheStore(rawCache);
  const store = new FaultInjectingEntityStore(rawStore);
  const namespace = `pp-${uuid().slice(0, 8)}`;
  const counters: PingPongCounter[] = [];
  return {
    label,
    cache,
    store,
    clock,
    namespace,
    counter(options = {}) {
      const counter = new PingPongCounter({
        cache,
        store,
        intervalMs: INTERVAL_MS,
        namespace,
        now: clock.now,
        ...options,
      });
      counters.push(counter);
      return counter;
    },
    otherStore: () => new FaultInjectingEntityStore(rawStore),
    async close() {
      cache.faults.heal();
      store.faults.heal();
      await Promise.allSettled(counters.map((c) => c.close()));
      await closeBackends();
    },
  };
}

/** The embedded adapters: `MemoryCacheStore` (TTLs on the fake clock) and `MemoryEntityStore`. */
export function memoryEnvironment(): Environment {
  const clock = new FakeClock();
  const cache = new MemoryCacheStore({ now: clock.now });
  const store = new MemoryEntityStore({
    retry: { minTimeoutMs: 1, maxTimeoutMs: 20, retries: 30 },
  });
  return makeEnvironment('memory', cache, store, clock, async () => {
    await cache.close();
    await store.close();
  });
}
