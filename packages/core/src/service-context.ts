import { AsyncLocalStorage } from 'node:async_hooks';
import {
  AmbiguousCommitError,
  type EntityStore,
  type RetryPolicy,
  raceSignal,
  type TransactionWork,
  type TransactOptions,
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
  /**
   * The signal of the operation the calling async context belongs to (the caller's `signal`
   * and deadline combined, its reason the typed error). Carried by the async context like the
   * store's ambient transaction, so every step of an operation stops at it without each
   * helper passing it on; absent for operations without a signal or deadline.
   */
  readonly #signals = new AsyncLocalStorage<AbortSignal | undefined>();

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

  /** The signal of the current operation; `undefined` when it has none. */
  get signal(): AbortSignal | undefined {
    return this.#signals.getStore();
  }

  /** Runs `body` as an operation under `signal` (`undefined`: under none). */
  withSignal<T>(signal: AbortSignal | undefined, body: () => Promise<T>): Promise<T> {
    return this.#signals.run(signal, body);
  }

  /**
   * Runs `start` outside the current operation's signal: work that outlives its caller
   * (background deletions, shard growth) must not stop at the caller's deadline.
   */
  detached<T>(start: () => T): T {
    return this.#signals.exit(start);
  }

  /** Whether the current operation's signal has ended (aborted, or past its deadline). */
  ended(): boolean {
    return this.#signals.getStore()?.aborted === true;
  }

  /** Throws the operation's typed error (abort or deadline) once its signal has ended. */
  throwIfEnded(): void {
    const signal = this.#signals.getStore();
    if (signal?.aborted === true) throw signal.reason;
  }

  /**
   * Settles like `promise` (a read, safe to drop), or rejects with the operation's typed error
   * as soon as its signal ends.
   */
  guard<T>(promise: Promise<T>): Promise<T> {
    return raceSignal(promise, this.#signals.getStore());
  }

  /**
   * Runs `work` in a transaction of its own (retried on contention, reported as `contention`
   * and `retry` events), or, with `joined`, in the caller's ambient transaction.
   *
   * Under an operation signal (see {@link signal}), the transaction stops at it: before the
   * commit (before or during `work`, or while backing off after contention) the call rejects
   * at once with the signal's typed error and nothing is written (`work` checks the signal
   * when it starts and when it ends, so an abandoned attempt can never reach its commit);
   * while the commit is in flight it rejects with `AmbiguousCommitError`; once the commit has
   * landed, the call completes (its after-commit cache step stops waiting at the signal).
   */
  run<R>(
    name: string,
    operation: CounterOperationName,
    work: TransactionWork<R>,
    options: { readonly joined?: boolean; readonly onContention?: () => void } = {},
  ): Promise<R> {
    const signal = this.#signals.getStore();
    if (signal !== undefined) return this.#runUntil(signal, name, operation, work, options);
    return this.#transact(name, operation, work, options);
  }

  #runUntil<R>(
    signal: AbortSignal,
    name: string,
    operation: CounterOperationName,
    work: TransactionWork<R>,
    options: { readonly joined?: boolean; readonly onContention?: () => void },
  ): Promise<R> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (options.joined !== true) {
      // The store watches the signal itself (TransactOptions.signal): the work's reads, the
      // backoff and the commit stop at it. The work checks it when it starts and when it
      // ends, so an attempt whose signal ended can never reach its commit.
      const checked: TransactionWork<R> = async (info) => {
        if (signal.aborted) throw signal.reason;
        const result = await work(info);
        if (signal.aborted) throw signal.reason;
        return result;
      };
      return this.#transact(name, operation, checked, { ...options, signal });
    }
    let phase: 'work' | 'commit' | 'backoff' | 'committed' = 'work';
    const guarded: TransactionWork<R> = async (info) => {
      if (signal.aborted) throw signal.reason;
      phase = 'work';
      // Registered first, so it runs before the operation's own after-commit steps.
      await this.store.afterCommit(() => {
        phase = 'committed';
      });
      const result = await work(info);
      if (signal.aborted) throw signal.reason;
      phase = 'commit';
      return result;
    };
    const running = this.#transact(name, operation, guarded, {
      ...options,
      // The store stops too: its backoff and retries end at the signal, and it never begins
      // another attempt of an abandoned transaction.
      signal,
      onContention: () => {
        phase = 'backoff';
        options.onContention?.();
      },
    });
    return new Promise<R>((resolve, reject) => {
      const onAbort = (): void => {
        // The commit landed: the operation has happened and finishes (its cache step stops
        // waiting at the signal).
        if (phase === 'committed') return;
        running.catch(() => undefined);
        reject(
          phase === 'commit'
            ? new AmbiguousCommitError(
                `The ${operation} of counter ${quoteName(name)} was stopped while its commit was in flight; the commit may or may not have been applied (retry with the same idempotencyKey to apply it exactly once).`,
                { cause: signal.reason, context: { counterName: name, operation } },
              )
            : signal.reason,
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      running.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  #transact<R>(
    name: string,
    operation: CounterOperationName,
    work: TransactionWork<R>,
    options: {
      readonly joined?: boolean;
      readonly onContention?: () => void;
      readonly signal?: AbortSignal;
    },
  ): Promise<R> {
    if (options.joined === true) return this.store.transact(work);
    const transactOptions: TransactOptions = {
      retry: this.settings.retry,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
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
