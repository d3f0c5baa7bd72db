import type { CacheStore } from '@shardcount/storage';

/** A cache whose next call to one method is held; see {@link holdNextCacheCall}. */
export interface HeldCacheCall {
  /** The cache to give the counter under test. */
  readonly cache: CacheStore;
  /** Resolves once the held call has arrived (before it reaches the inner cache). */
  readonly reached: Promise<void>;
  /** Resolves once the held call has run on the inner cache (after `release`). */
  readonly settled: Promise<void>;
  /** Lets the held call go on to the inner cache. */
  release(): void;
}

/**
 * Wraps `inner` so that the next call to `method` waits at a gate before it reaches the
 * cache, until released: a cache call kept in flight for as long as a test needs. Later
 * calls go straight through.
 */
export function holdNextCacheCall(
  inner: CacheStore,
  method: 'incr' | 'getMany' | 'get',
): HeldCacheCall {
  let arrive!: () => void;
  let open!: () => void;
  let settle!: () => void;
  const reached = new Promise<void>((resolve) => {
    arrive = resolve;
  });
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  let armed = true;
  const cache = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      if (property !== method) return bound;
      return async (...args: unknown[]) => {
        if (!armed) return bound(...args);
        armed = false;
        arrive();
        await opened;
        try {
          return await bound(...args);
        } finally {
          settle();
        }
      };
    },
  });
  return { cache, reached, settled, release: open };
}
