import { MemcachedCacheStore } from '@shardcount/storage/memcached';
import { inject } from 'vitest';
import type {} from './provided-context.js';

/** Options of {@link realCacheStore}. */
export interface RealCacheStoreOptions {
  /** `host:port` of the memcached to use; the run's shared one (`inject('memcachedAddress')`) by default. */
  readonly address?: string;
  /** Per-call timeout in milliseconds; the store's default (500) when absent. */
  readonly timeoutMs?: number;
}

/**
 * A {@link MemcachedCacheStore} on the memcached the test run shares (or on `address`, e.g.
 * a private server from `startMemcached()`). Call it inside a vitest test or hook; close the
 * store when done (`await store.close()`). The shared server is shared by every test file:
 * use random keys.
 */
export function realCacheStore(options: RealCacheStoreOptions = {}): MemcachedCacheStore {
  const servers = options.address ?? inject('memcachedAddress');
  return new MemcachedCacheStore(
    options.timeoutMs === undefined ? { servers } : { servers, timeoutMs: options.timeoutMs },
  );
}
