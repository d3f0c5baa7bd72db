/**
 * `@shardcount/pingpong`: a cheap, buffered counter for counts that may be slightly late and,
 * in rare cases, slightly low. Increments cost one memcached round trip and never touch the
 * datastore; a flusher (in-process timer or a cron endpoint) moves ended epochs into a
 * durable count in Cloud Datastore, exactly once, with per-epoch watermarks and a closed-epoch
 * floor stored in the same transaction as the count. Counts wait in memcache for
 * `retentionMs` (default 24 h) through outages and missed flushes.
 *
 * Start with {@link PingPongCounter}; the package README explains the accuracy model and the
 * loss bound.
 *
 * @packageDocumentation
 */
export {
  type DrainedSlot,
  type PingPongCounterEntity,
  PingPongCounterKind,
} from './counter-entity.js';
export {
  type CounterListEntry,
  type CounterPage,
  DEFAULT_LIST_LIMIT,
  type ListCountersOptions,
  MAX_LIST_LIMIT,
} from './counter-listing.js';
export type { CounterValue, IncrementOutcome, PingPongStats } from './counter-value.js';
export type { EpochRange } from './epoch-schedule.js';
export { CounterClosedError, isCounterClosedError } from './errors/counter-closed-error.js';
export type {
  CounterLoss,
  FlusherOptions,
  FlushFailure,
  FlushOptions,
  FlushReport,
} from './flush-report.js';
export {
  type CacheUnavailablePolicy,
  DEFAULT_RETENTION_MS,
  type PingPongCounterOptions,
} from './options.js';
export { MAX_GET_MANY_NAMES, PingPongCounter } from './ping-pong-counter.js';
export {
  type DroppedEvent,
  type FlushErrorEvent,
  type IdledEvent,
  type LostEvent,
  type MovedDecrementsEvent,
  type MovedEvent,
  PINGPONG_EVENT_NAMES,
  type PingPongEventListener,
  type PingPongEventMap,
  type RegistrationErrorEvent,
  type WrittenThroughEvent,
} from './pingpong-events.js';
export { type SlotDirection, slotKey } from './slot-keys.js';
export { MAX_COUNTER_NAME_BYTES } from './validation.js';
