import { type CacheStore, MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
import type { Backend, RawIncrement } from './backend.js';

/** Room for every key a run writes, so eviction never enters a measurement. */
const CACHE_MAX_ENTRIES = 1_000_000;

/** The embedded adapters: everything in this process, no server. */
export function createEmbeddedBackend(): Backend {
  return {
    kind: 'embedded',
    adapters: {
      entityStore: 'MemoryEntityStore (in process, optimistic transactions)',
      cacheStore: 'MemoryCacheStore (in process)',
      rawIncrement: 'MemoryCacheStore.incr (no memcached in embedded mode)',
    },
    createEntityStore: async () => new MemoryEntityStore(),
    createCacheStore: () => new MemoryCacheStore({ maxEntries: CACHE_MAX_ENTRIES }),
    createRawIncrement: (cache: CacheStore): RawIncrement => {
      let calls = 0;
      return {
        label: 'MemoryCacheStore.incr (raw, same cache)',
        async increment(key) {
          calls++;
          await cache.incr(key, 1, { initial: 0 });
        },
        get calls() {
          return calls;
        },
        close: async () => {},
      };
    },
    close: async () => {},
  };
}
