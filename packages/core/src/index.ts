/**
 * `@shardcount/core`: durable sharded counters on Cloud Datastore (or any
 * `@shardcount/storage` entity store) with a stale-proof cached total in memcached.
 *
 * - {@link ShardedCounterService}: increment (one transaction over the counter and one random
 *   shard), decrement (never below zero; an all-or-nothing `exact` mode), cached reads,
 *   create / update / reset / delete with crash-safe resumption, automatic shard growth.
 * - Errors: {@link CounterNotFoundError}, {@link CounterExistsError},
 *   {@link CounterNotMutableError}, {@link InsufficientCountError}, plus the storage errors
 *   (`InvalidArgumentError`, `OutOfRangeError`, `AmbiguousCommitError`, ...).
 *
 * @packageDocumentation
 */

export {
  type CounterData,
  type CounterShardData,
  MAX_SHARDS,
  type OperationRecord,
  SHARD_FAST_PATH_LIMIT,
} from './counter-entities.js';
export type {
  CacheErrorEvent,
  CacheHitEvent,
  CacheMissEvent,
  ContentionEvent,
  CounterEventListener,
  CounterEventMap,
  CounterOperationName,
  DeletionFailedEvent,
  RetryEvent as CounterRetryEvent,
  ShardsGrownEvent,
} from './counter-events.js';
export { CounterStatus, type SettableCounterStatus } from './counter-status.js';
export type {
  Counter,
  CounterInfo,
  CounterOperation,
  CounterPage,
  CreateCounterOptions,
  DecrementOptions,
  DeleteOptions,
  GetCounterOptions,
  IncrementOptions,
  ListCountersOptions,
  OperationOptions,
  ResumeReport,
  UpdateCounterOptions,
} from './counter-types.js';
export { CounterExistsError } from './errors/counter-exists-error.js';
export { CounterNotFoundError } from './errors/counter-not-found-error.js';
export { CounterNotMutableError } from './errors/counter-not-mutable-error.js';
export { InsufficientCountError } from './errors/insufficient-count-error.js';
export { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './list-counters.js';
export {
  type AutoShardOptions,
  ShardedCounterService,
  type ShardedCounterServiceOptions,
} from './sharded-counter-service.js';
export { MAX_COUNTER_NAME_BYTES, MAX_GET_COUNTERS } from './validation.js';
