/**
 * `@shardcount/storage`: the storage abstraction every shardcount package shares.
 *
 * - {@link EntityStore}: an Objectify-like entity store with typed keys and an ambient
 *   transaction, over Cloud Datastore ({@link DatastoreEntityStore}) or in memory
 *   ({@link MemoryEntityStore}).
 * - {@link CacheStore}: a memcache-like best-effort cache with CAS, over memcached
 *   ({@link MemcachedCacheStore}) or in memory ({@link MemoryCacheStore}).
 *
 * @packageDocumentation
 */
export { assertCacheKey, assertTtl, MAX_CACHE_VALUE_BYTES } from './cache/cache-arguments.js';
export type {
  CacheCounterOptions,
  CacheStore,
  CacheValue,
  CacheWriteOptions,
  CasEntry,
  CasToken,
} from './cache/cache-store.js';
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
export { MemoryCacheStore, type MemoryCacheStoreOptions } from './cache/memory-cache-store.js';
export {
  BackendEntityStore,
  DEFAULT_RETRY_POLICY,
  type EntityStoreOptions,
} from './entity/backend-entity-store.js';
export {
  DATASTORE_LIMITS,
  DatastoreEntityBackend,
  type DatastoreEntityBackendOptions,
  DatastoreEntityStore,
  type DatastoreEntityStoreOptions,
  DEFAULT_DATASTORE_CALL_TIMEOUT_MS,
} from './entity/datastore-entity-store.js';
export type {
  BackendQuery,
  BackendTransaction,
  DeleteMutation,
  EntityBackend,
  EntityBackendLimits,
  Mutation,
  PropertyFilter,
  QueryRow,
  StoredEntity,
  UpsertMutation,
} from './entity/entity-backend.js';
export type {
  AfterCommitCallback,
  EntityOf,
  EntityStore,
  QueryOptions,
  QueryResult,
  RetryEvent,
  RetryPolicy,
  SaveEntry,
  TransactionInfo,
  TransactionWork,
  TransactOptions,
} from './entity/entity-store.js';
export type { EntityValue } from './entity/entity-value.js';
export {
  defineKind,
  type Key,
  type Kind,
  type KindOptions,
  key,
  keyId,
  MAX_KEY_NAME_BYTES,
  unindexedPropertiesOf,
} from './entity/key.js';
export {
  MemoryEntityBackend,
  MemoryEntityStore,
  type MemoryEntityStoreOptions,
} from './entity/memory-entity-store.js';
export * from './errors/index.js';
export { describeValue } from './util/describe-value.js';
