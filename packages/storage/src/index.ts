/**
 * `@shardcount/storage`: the storage abstraction every shardcount package shares.
 *
 * - {@link EntityStore}: an Objectify-like entity store with typed keys and an ambient
 *   transaction, in memory ({@link MemoryEntityStore}) or over Cloud Datastore
 *   (`DatastoreEntityStore` from `@shardcount/storage/datastore`).
 * - {@link CacheStore}: a memcache-like best-effort cache with CAS, in memory
 *   ({@link MemoryCacheStore}) or over memcached (`MemcachedCacheStore` from
 *   `@shardcount/storage/memcached`).
 *
 * The root loads no client library: each real adapter lives behind its own subpath, and its
 * client is an optional peer dependency that only apps importing that subpath install.
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
  MAX_MEMORY_CACHE_ENTRIES,
  MemoryCacheStore,
  type MemoryCacheStoreOptions,
} from './cache/memory-cache-store.js';
export {
  BACKEND_CALL_CHANNEL,
  type BackendCallMessage,
  EVENTS_CHANNEL,
  OPERATION_TRACING,
  type OperationAttributeValue,
  type OperationMessage,
  operationChannel,
  operationChannelName,
  operationChannels,
  operationMessage,
  publishEvent,
  SHARDCOUNT_OPERATIONS,
  type ShardcountEventMessage,
  type ShardcountPackageName,
  setOperationAttribute,
  setOperationTracing,
  traceBackendCall,
  traceOperation,
} from './diagnostics/tracing.js';
export { type TypedEventListener, TypedEvents } from './diagnostics/typed-events.js';
export {
  BackendEntityStore,
  DEFAULT_RETRY_POLICY,
  type EntityStoreOptions,
} from './entity/backend-entity-store.js';
export {
  checkRetryPolicy,
  MAX_QUERY_LIMIT,
  MAX_RETRIES,
  resolveRetryPolicy,
} from './entity/entity-arguments.js';
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
  StoreCallOptions,
  TransactionInfo,
  TransactionWork,
  TransactOptions,
} from './entity/entity-store.js';
export type { EntityValue } from './entity/entity-value.js';
export {
  assertKindName,
  defineKind,
  type Key,
  type Kind,
  type KindOptions,
  key,
  keyId,
  MAX_KEY_NAME_BYTES,
  unindexedPropertiesOf,
} from './entity/key.js';
export { compareKeyNames } from './entity/key-order.js';
export {
  MemoryEntityBackend,
  MemoryEntityStore,
  type MemoryEntityStoreOptions,
} from './entity/memory-entity-store.js';
export * from './errors/index.js';
export * from './operation/index.js';
export {
  assertArray,
  assertBoolean,
  assertFiniteNumber,
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertString,
  assertTimerMs,
  describeValue,
  invalidArgument,
  MAX_TIMER_MS,
  type NumberRange,
  type OptionFields,
  readOptions,
} from './validation/index.js';
