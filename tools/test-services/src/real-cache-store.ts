import { MemcachedCacheStore } from '@shardcount/storage/memcached';
import { createValkeyCluster, ValkeyCacheStore } from '@shardcount/storage/valkey';
import type { Cluster } from 'iovalkey';
import { inject } from 'vitest';
import type {} from './provided-context.js';

/** The real caches a test can ask {@link realCacheStore} for. */
export type RealCacheKind = 'memcached' | 'valkey' | 'valkey-cluster';

/** Every {@link RealCacheKind}, for `describe.each`. */
export const REAL_CACHE_KINDS: readonly RealCacheKind[] = ['memcached', 'valkey', 'valkey-cluster'];

/** Options of {@link realCacheStore}. */
export interface RealCacheStoreOptions {
  /** Which cache: the run's shared memcached (default), Valkey server or Valkey cluster. */
  readonly cache?: RealCacheKind;
  /**
   * Where it is, instead of the run's shared one (e.g. a private server from
   * `startMemcached()`/`startValkey()`): memcached `host:port`, Valkey `redis://host:port`,
   * a cluster's comma-separated `host:port` list.
   */
  readonly address?: string;
  /** Per-call timeout in milliseconds; the store's default (500) when absent. */
  readonly timeoutMs?: number;
  /** Fail-fast window in milliseconds; the store's default (1000) when absent. */
  readonly failFastMs?: number;
}

/**
 * A cluster client for a `ValkeyCacheStore` (storage's `createValkeyCluster`: a command
 * whose connection dropped before its answer fails instead of being sent again).
 * `addresses` is a comma-separated `host:port` list; the run's shared cluster by default
 * (call it inside a test or hook then). Disconnect it when done.
 */
export function valkeyClusterClient(addresses = inject('valkeyClusterAddresses')): Cluster {
  return createValkeyCluster(addresses.split(','));
}

/** A store that also disconnects the cluster client made for it when closed. */
class OwnedClusterCacheStore extends ValkeyCacheStore {
  readonly #cluster: Cluster;

  constructor(cluster: Cluster, options: { timeoutMs?: number; failFastMs?: number }) {
    super({ client: cluster, ...options });
    this.#cluster = cluster;
  }

  override async close(): Promise<void> {
    await super.close();
    this.#cluster.disconnect();
  }
}

/**
 * A real cache store on the servers the test run shares (or on `address`): a
 * {@link MemcachedCacheStore} by default or for `cache: 'memcached'`, a
 * {@link ValkeyCacheStore} for `'valkey'` (standalone) and `'valkey-cluster'` (a cluster
 * client the store's `close()` also disconnects). Call it inside a vitest test or hook;
 * close the store when done. The shared servers are shared by every test file: use random
 * keys.
 */
export function realCacheStore(
  options?: RealCacheStoreOptions & { readonly cache?: 'memcached' },
): MemcachedCacheStore;
export function realCacheStore(
  options: RealCacheStoreOptions & { readonly cache: 'valkey' | 'valkey-cluster' },
): ValkeyCacheStore;
export function realCacheStore(
  options: RealCacheStoreOptions,
): MemcachedCacheStore | ValkeyCacheStore;
export function realCacheStore(
  options: RealCacheStoreOptions = {},
): MemcachedCacheStore | ValkeyCacheStore {
  const tuning = {
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.failFastMs === undefined ? {} : { failFastMs: options.failFastMs }),
  };
  switch (options.cache ?? 'memcached') {
    case 'memcached':
      return new MemcachedCacheStore({
        servers: options.address ?? inject('memcachedAddress'),
        ...tuning,
      });
    case 'valkey':
      return new ValkeyCacheStore({ url: options.address ?? inject('valkeyUrl'), ...tuning });
    case 'valkey-cluster':
      return new OwnedClusterCacheStore(
        valkeyClusterClient(options.address ?? inject('valkeyClusterAddresses')),
        tuning,
      );
  }
}
