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

/**
 * What this process last saw of a counter's metadata. Increments trust it without reading the
 * counter: every shard carries the counter's fence, and a shard whose fence differs from the
 * view's sends the increment back to refresh it (see {@link CounterData.fenceEpoch}).
 */
export interface CounterView {
  /** The counter as last read or written by this process. */
  readonly counter: CounterData;
  /** Shards that may hold counts. */
  readonly numShards: number;
  /** Shards an increment may write. */
  readonly writable: number;
  /** The fence the shards carry for this view to be current. */
  readonly fence: number;
}

/** Shards of one counter held by this process's in-flight increments. */
class ShardClaims {
  /** Shard index -> in-flight increments holding it. */
  readonly held = new Map<number, number>();

  /**
   * A shard below `n` that no other in-flight increment of this process holds, at random
   * among the free ones; a random one when all are held.
   */
  claim(n: number): number {
    const start = randomIndex(n);
    let chosen = start;
    for (let step = 0; step < n; step++) {
      const index = (start + step) % n;
      if (!this.held.has(index)) {
        chosen = index;
        break;
      }
    }
    this.held.set(chosen, (this.held.get(chosen) ?? 0) + 1);
    return chosen;
  }

  release(index: number): void {
    const left = (this.held.get(index) ?? 1) - 1;
    if (left > 0) this.held.set(index, left);
    else this.held.delete(index);
  }
}

/** A shard chosen for one increment attempt; release it when the attempt is over. */
export interface ShardClaim {
  /** The shard index. */
  readonly index: number;
  /** Gives the shard back (idempotent). */
  release(): void;
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
  readonly #views: LRUCache<string, CounterView>;
  readonly #claims = new Map<string, ShardClaims>();

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
    this.#views = new LRUCache({ max: hints.maxEntries, ttl: hints.ttlMs });
  }

  /** The last metadata seen for `name`, if still fresh. */
  view(name: string): CounterView | undefined {
    return this.#views.get(name);
  }

  /** Records metadata just read or written. */
  remember(counter: CounterData): void {
    this.#views.set(counter.name, {
      counter,
      numShards: counter.numShards,
      writable: writableShards(counter),
      fence: counter.fenceEpoch ?? 0,
    });
  }

  /** Drops the view after a change, so the next operation reads the counter again. */
  forget(name: string): void {
    this.#views.delete(name);
  }

  /**
   * Chooses the shard for one increment attempt among `n`: one that no other in-flight
   * increment of this process holds while there is one, so a process never contends with
   * itself; contention comes only from other processes (whose choice stays random).
   */
  claimShard(name: string, n: number): ShardClaim {
    let claims = this.#claims.get(name);
    if (claims === undefined) {
      claims = new ShardClaims();
      this.#claims.set(name, claims);
    }
    const owner = claims;
    const index = owner.claim(n);
    let released = false;
    return {
      index,
      release: () => {
        if (released) return;
        released = true;
        owner.release(index);
        if (owner.held.size === 0 && this.#claims.get(name) === owner) this.#claims.delete(name);
      },
    };
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
