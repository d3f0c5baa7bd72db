import type {
  EntityStore,
  RetryPolicy,
  TransactionWork,
  TransactOptions,
} from '@shardcount/storage';
import { LRUCache } from 'lru-cache';
import type { CachedTotals } from './cached-total.js';
import { type CounterData, type CounterKinds, writableShards } from './counter-entities.js';
import type { CounterEvents, CounterOperationName } from './counter-events.js';
import { CounterStatus } from './counter-status.js';
import type { Counter } from './counter-types.js';
import { CounterNotMutableError } from './errors/counter-not-mutable-error.js';

/** What this process last saw of a counter's metadata; a hint, always re-checked in transactions. */
export interface CounterHint {
  /** Shards that may hold counts. */
  readonly numShards: number;
  /** Shards an increment may write. */
  readonly writable: number;
}

/** Settings the operations share, resolved from the service options. */
export interface ServiceSettings {
  readonly numInitialShards: number;
  readonly idempotencyTtlSeconds: number;
  readonly maxWritesPerTransaction: number;
  readonly retry: Partial<RetryPolicy>;
}

/**
 * Everything the counter operations share: the store, the kinds, the cached totals, events,
 * the metadata hints and the transaction runner.
 */
export class ServiceContext {
  readonly store: EntityStore;
  readonly kinds: CounterKinds;
  readonly totals: CachedTotals;
  readonly events: CounterEvents;
  readonly settings: ServiceSettings;
  readonly #hints: LRUCache<string, CounterHint>;

  constructor(
    store: EntityStore,
    kinds: CounterKinds,
    totals: CachedTotals,
    events: CounterEvents,
    settings: ServiceSettings,
    hints: { readonly ttlMs: number; readonly maxEntries: number },
  ) {
    this.store = store;
    this.kinds = kinds;
    this.totals = totals;
    this.events = events;
    this.settings = settings;
    this.#hints = new LRUCache({ max: hints.maxEntries, ttl: hints.ttlMs });
  }

  /** The last metadata seen for `name`, if still fresh. */
  hint(name: string): CounterHint | undefined {
    return this.#hints.get(name);
  }

  /** Records metadata just read or written in a transaction. */
  remember(counter: CounterData): void {
    this.#hints.set(counter.name, {
      numShards: counter.numShards,
      writable: writableShards(counter),
    });
  }

  /** Drops the hint after a change that alters the shard layout. */
  forget(name: string): void {
    this.#hints.delete(name);
  }

  /**
   * Runs `work` in a transaction of its own (retried on contention, reported as `contention`
   * and `retry` events), or, with `joined`, in the caller's ambient transaction.
   */
  run<R>(
    name: string,
    operation: CounterOperationName,
    work: TransactionWork<R>,
    options: { readonly joined?: boolean; readonly onContention?: () => void } = {},
  ): Promise<R> {
    if (options.joined === true) return this.store.transact(work);
    const transactOptions: TransactOptions = {
      retry: this.settings.retry,
      onRetry: (event) => {
        options.onContention?.();
        this.events.emit('contention', {
          counterName: name,
          operation,
          attempt: event.attempt,
          retriesLeft: event.retriesLeft,
          error: event.error,
        });
        this.events.emit('retry', {
          counterName: name,
          operation,
          step: 'transaction',
          attempt: event.attempt,
        });
      },
    };
    return this.store.transactNew(work, transactOptions);
  }
}

/** A uniformly random shard index below `n`. */
export function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

/** A counter name cut short for messages. */
export function quoteName(name: string): string {
  return name.length > 80 ? `"${name.slice(0, 77)}..."` : `"${name}"`;
}

/** Whether increments and decrements may change the counter. */
export function isMutable(counter: CounterData): boolean {
  return (
    counter.status === CounterStatus.AVAILABLE ||
    (counter.status === CounterStatus.CHANGING_SHARDS &&
      counter.baseStatus === CounterStatus.AVAILABLE)
  );
}

/** Throws `CounterNotMutableError` unless the counter's count may change. */
export function assertMutable(counter: CounterData, operation: CounterOperationName): void {
  if (isMutable(counter)) return;
  const context = { counterName: counter.name, status: counter.status, operation };
  const name = quoteName(counter.name);
  switch (counter.status) {
    case CounterStatus.DELETING:
      throw new CounterNotMutableError(
        `Cannot ${operation} counter ${name}: it is being deleted (status DELETING). delete() or resumeDeletions() finishes the deletion; afterwards the name can be used again.`,
        { context },
      );
    case CounterStatus.RESETTING:
      throw new CounterNotMutableError(
        `Cannot ${operation} counter ${name}: it is being reset (status RESETTING). reset() or resumeInterrupted() finishes the reset.`,
        { context },
      );
    default:
      throw new CounterNotMutableError(
        `Cannot ${operation} counter ${name}: its status is READ_ONLY_COUNT, so its count cannot change. Set its status to AVAILABLE with updateCounter() first.`,
        { context },
      );
  }
}

/** A new counter's metadata. */
export function newCounterData(
  name: string,
  numShards: number,
  description: string,
  now: Date,
): CounterData {
  return {
    name,
    description,
    numShards,
    status: CounterStatus.AVAILABLE,
    baseStatus: CounterStatus.AVAILABLE,
    largeTotal: false,
    createdAt: now,
    updatedAt: now,
  };
}

/** The public view of a counter with its count. */
export function toCounter(counter: CounterData, count: number): Counter {
  return {
    name: counter.name,
    description: counter.description,
    numShards: counter.numShards,
    status: counter.status,
    count,
    createdAt: counter.createdAt,
    updatedAt: counter.updatedAt,
  };
}
