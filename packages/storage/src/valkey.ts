/**
 * `@shardcount/storage/valkey`: the `CacheStore` on Valkey (Memorystore for Valkey, or any
 * Valkey 7.2+ / Redis 7+), standalone or cluster mode. Needs the optional peer dependency
 * `iovalkey` (`^0.4.0`).
 *
 * ```ts
 * import { createValkeyCluster, ValkeyCacheStore } from '@shardcount/storage/valkey';
 *
 * const cache = new ValkeyCacheStore({ url: 'redis://10.0.0.3:6379' });
 * // A cluster (Memorystore for Valkey's default mode), through its discovery endpoint:
 * const clustered = new ValkeyCacheStore({ client: createValkeyCluster(['10.0.0.8:6379']) });
 * ```
 *
 * @packageDocumentation
 */
export {
  DEFAULT_VALKEY_FAIL_FAST_MS,
  DEFAULT_VALKEY_TIMEOUT_MS,
  ValkeyCacheStore,
  type ValkeyCacheStoreCommonOptions,
  type ValkeyCacheStoreOptions,
  type ValkeyClient,
  type ValkeyClientOptions,
  type ValkeyUrlOptions,
} from './cache/valkey-cache-store.js';
export { createValkeyCluster } from './cache/valkey-cluster-client.js';
export { VALKEY_CLUSTER_SLOTS, valkeyKeySlot } from './cache/valkey-key-slot.js';
