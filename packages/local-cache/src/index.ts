/**
 * `@shardcount/local-cache`: an in-process cache that every process sharing one memcached
 * sees invalidated.
 *
 * {@link LocalCache} keeps values in this process (bounded LRU, optional TTL) and a tiny
 * version tag per key in a `CacheStore` (from `@shardcount/storage`). A read is served locally
 * when the local tag equals the stored one; `invalidate(key)` writes a fresh tag and every
 * process reloads. Loads are single-flight per key, `maxStalenessMs` bounds how stale a
 * read may be in exchange for fewer round trips, and {@link CacheOutagePolicy} says what a
 * memcached outage means.
 *
 * @packageDocumentation
 */

export { LocalCache } from './local-cache.js';
export {
  type HitEvent,
  type InvalidatedEvent,
  LOCAL_CACHE_EVENT_NAMES,
  type LoadEvent,
  type LoadFailedEvent,
  type LocalCacheEventListener,
  type LocalCacheEventMap,
  type MissEvent,
  type MissReason,
  type StaleServedEvent,
  type TagStoreErrorEvent,
} from './local-cache-events.js';
export type { CacheOutagePolicy, LocalCacheOptions } from './local-cache-options.js';
export type { LocalCacheStats } from './local-cache-stats.js';
export type { LocalEntry } from './local-entry.js';
export { MAX_LOCAL_ENTRIES } from './resolve-options.js';
export type { LoadContext, ManyValuesProvider, ValueProvider } from './value-provider.js';
