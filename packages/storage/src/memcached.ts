/**
 * `@shardcount/storage/memcached`: the `CacheStore` on memcached (Memorystore for
 * Memcached, or any memcached 1.6) over the binary protocol. Needs the optional peer
 * dependency `memjs` (`^1.3.2`).
 *
 * ```ts
 * import { MemcachedCacheStore } from '@shardcount/storage/memcached';
 *
 * const cache = new MemcachedCacheStore({ servers: '10.0.0.3:11211' });
 * ```
 *
 * @packageDocumentation
 */
export {
  DEFAULT_MEMCACHED_FAIL_FAST_MS,
  DEFAULT_MEMCACHED_TIMEOUT_MS,
  MemcachedCacheStore,
  type MemcachedCacheStoreCommonOptions,
  type MemcachedCacheStoreOptions,
  type MemcachedClientOptions,
  type MemcachedServersOptions,
} from './cache/memcached-cache-store.js';
export {
  MAPPED_KEY_PREFIX,
  MEMCACHED_MAX_KEY_BYTES,
  toMemcachedKey,
} from './cache/memcached-key.js';
