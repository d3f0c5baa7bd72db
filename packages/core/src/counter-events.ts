import { TypedEvents } from '@shardcount/storage';

/** The service operations events are attributed to. */
export type CounterOperationName =
  | 'increment'
  | 'decrement'
  | 'getCounter'
  | 'createCounter'
  | 'updateCounter'
  | 'reset'
  | 'delete'
  | 'autoShard';

/** Payload of the `contention` event: a transaction lost an optimistic-concurrency race. */
export interface ContentionEvent {
  /** Counter concerned. */
  readonly counterName: string;
  /** Operation whose transaction lost. */
  readonly operation: CounterOperationName;
  /** Number of the attempt that failed, from 1. */
  readonly attempt: number;
  /** Retries still allowed. */
  readonly retriesLeft: number;
  /** The `ContentionError`. */
  readonly error: Error;
}

/** Payload of the `retry` event: a step is about to be tried again. */
export interface RetryEvent {
  /** Counter concerned. */
  readonly counterName: string;
  /** Operation retrying. */
  readonly operation: CounterOperationName;
  /** `transaction`: after contention; `cacheLease`: a writer waits for a reader's fill to land. */
  readonly step: 'transaction' | 'cacheLease';
  /** Number of the attempt that failed, from 1. */
  readonly attempt: number;
}

/** Payload of the `cacheHit` event. */
export interface CacheHitEvent {
  /** Counter read. */
  readonly counterName: string;
}

/** Payload of the `cacheMiss` event. */
export interface CacheMissEvent {
  /** Counter read. */
  readonly counterName: string;
  /**
   * `missing`: nothing cached (this reader may fill it); `filling`: another reader holds the
   * fill lease; `expired`: the cached total outlived its TTL; `unavailable`: the cache failed.
   */
  readonly reason: 'missing' | 'filling' | 'expired' | 'unavailable';
}

/** Payload of the `cacheError` event: a cache call failed; the operation went on without it. */
export interface CacheErrorEvent {
  /** Counter concerned. */
  readonly counterName: string;
  /** Cache call that failed, e.g. `gets`, `cas`, `delete`. */
  readonly call: string;
  /** The error (usually `CacheUnavailableError`). */
  readonly error: Error;
}

/** Payload of the `shardsGrown` event: automatic sharding doubled a counter's shards. */
export interface ShardsGrownEvent {
  /** Counter grown. */
  readonly counterName: string;
  /** Shards before. */
  readonly fromShards: number;
  /** Shards after. */
  readonly toShards: number;
}

/** Payload of the `deletionFailed` event: a deletion running in the background failed. */
export interface DeletionFailedEvent {
  /** Counter whose deletion failed; it stays `DELETING` until `resumeDeletions` finishes it. */
  readonly counterName: string;
  /** Why. */
  readonly error: Error;
}

/** Every event the service emits and its payload. */
export interface CounterEventMap {
  /** A transaction lost a race and will be retried. */
  contention: ContentionEvent;
  /** A transaction or a cache CAS is being retried. */
  retry: RetryEvent;
  /** `getCounter` answered from the cache. */
  cacheHit: CacheHitEvent;
  /** `getCounter` found no usable total in the cache and read the store. */
  cacheMiss: CacheMissEvent;
  /** A cache call failed; the operation went on without the cache. */
  cacheError: CacheErrorEvent;
  /** Automatic sharding grew a counter. */
  shardsGrown: ShardsGrownEvent;
  /** A deletion started with `delete(name, { wait: false })` failed in the background. */
  deletionFailed: DeletionFailedEvent;
}

/** Names of every event in {@link CounterEventMap}. */
export const COUNTER_EVENT_NAMES: readonly (keyof CounterEventMap)[] = Object.freeze([
  'contention',
  'retry',
  'cacheHit',
  'cacheMiss',
  'cacheError',
  'shardsGrown',
  'deletionFailed',
]);

/** A listener of event `E`. */
export type CounterEventListener<E extends keyof CounterEventMap> = (
  event: CounterEventMap[E],
) => void;

/**
 * The service's typed events: storage's `TypedEvents` with each event attributed to its
 * counter on the `shardcount:events` diagnostics channel.
 */
export class CounterEvents extends TypedEvents<CounterEventMap> {
  /** Creates the emitter of one service. */
  constructor() {
    super('core');
  }

  /** Calls every listener of `event` and publishes it, attributed to `payload.counterName`. */
  override emit<E extends keyof CounterEventMap>(
    event: E,
    payload: CounterEventMap[E],
    subject: string | undefined = payload.counterName,
    count = 1,
  ): void {
    super.emit(event, payload, subject, count);
  }
}
