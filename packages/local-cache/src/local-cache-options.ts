import type { CacheStore } from '@shardcount/storage';
import type { MAX_LOCAL_ENTRIES } from './resolve-options.js';

/**
 * What a {@link LocalCache} does when the {@link CacheStore} holding the version tags fails
 * (`CacheUnavailableError`: memcached down, unreachable or over its timeout):
 *
 * - `'load'`: the local copy cannot be verified, so it is not used: every read calls the
 *   value provider (single-flight per key still applies). Correct and costly.
 * - `'serve-stale'`: serve the local copy while its last successful check is at most
 *   `graceMs` old; an older (or absent) copy is loaded from the provider.
 */
export type CacheOutagePolicy = 'load' | 'serve-stale';

/**
 * Options of {@link LocalCache}. Every value is checked when the cache is built; a bad one,
 * or a field this type does not declare, is an `InvalidArgumentError` naming it
 * (`options.maxEntries`).
 */
export interface LocalCacheOptions {
  /**
   * Where the version tags live: a memcached (`MemcachedCacheStore`) shared by every
   * process that must see invalidations, or a `MemoryCacheStore` for one process.
   */
  readonly cache: CacheStore;
  /**
   * Prefix of the tag keys: the tag of `key` is stored at `<namespace>:v:<key>`. Give each
   * logical cache its own namespace; processes sharing data must use the same one. A
   * non-empty, well-formed string. Default `'local-cache'`.
   */
  readonly namespace?: string;
  /**
   * Most entries held in this process; the least recently used go first. A whole number
   * from 1 to {@link MAX_LOCAL_ENTRIES} (10,000,000: lru-cache allocates every slot up front,
   * about 16 bytes each). Default 10,000.
   */
  readonly maxEntries?: number;
  /**
   * Longest life of a local entry in milliseconds, counted from its load (hits do not
   * extend it). A whole number from 1 to `Number.MAX_SAFE_INTEGER` (no timer is set; expiry
   * is checked on read). Absent: entries live until evicted or invalidated.
   */
  readonly ttlMs?: number;
  /**
   * How long, in milliseconds, an entry may be served without asking memcached again after
   * a successful check (or load). `0` (default): every read checks the tag, one round trip
   * per hit, and no read returns a value older than the last completed `invalidate`. A
   * finite number from 0 to `Number.MAX_SAFE_INTEGER`.
   */
  readonly maxStalenessMs?: number;
  /**
   * Time to live of the version tags in memcached, in whole seconds; `0` means no expiry.
   * When a tag expires every process reloads that key once. A whole number from 0 to
   * `Number.MAX_SAFE_INTEGER`. Default 600.
   */
  readonly versionTtlSeconds?: number;
  /** What to do while the tag store is unavailable. Default `'load'`. */
  readonly onCacheUnavailable?: CacheOutagePolicy;
  /**
   * With `'serve-stale'`: how long after an entry's last successful check, in milliseconds,
   * it may still be served while the tag store is unavailable. A finite number from 0 to
   * `Number.MAX_SAFE_INTEGER`. Default 60,000. Ignored with `'load'`.
   */
  readonly graceMs?: number;
  /**
   * Deadline, in milliseconds, of every `get`, `getMany`, `invalidate` and `invalidateMany`
   * call that does not pass its own `timeoutMs`: past it the call rejects with
   * `DeadlineExceededError` (the work it started, such as a shared load, goes on). A whole
   * number from 1 to 2^31 − 1. Absent (default): no deadline, and a call without options
   * pays nothing for the feature (with a default, every call arms a timer).
   */
  readonly timeoutMs?: number;
  /**
   * Monotonic clock in milliseconds (only differences are used), for `ttlMs`,
   * `maxStalenessMs` and `graceMs`. Default `performance.now`. Tests pass a fake.
   */
  readonly now?: () => number;
}
