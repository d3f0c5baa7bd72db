import {
  AmbiguousCommitError,
  assertBoolean,
  assertFunction,
  assertOneOf,
  type CacheStore,
  type CallOptions,
  type EntityStore,
  InvalidArgumentError,
  OPERATION_TRACING,
  type OperationMessage,
  type OperationSignal,
  openOperationSignal,
  type RetryPolicy,
  raceSignal,
} from '@shardcount/storage';
import { CachedTotals, type FillTicket, type ReadOutcome } from './cached-total.js';
import { CORE_CHANNELS, coreMessage, setAttribute } from './core-tracing.js';
import { type CounterData, counterKey, MAX_SHARDS, shardKeys } from './counter-entities.js';
import {
  COUNTER_EVENT_NAMES,
  type CounterEventListener,
  type CounterEventMap,
  CounterEvents,
} from './counter-events.js';
import { CounterStatus } from './counter-status.js';
import type {
  Counter,
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
import { decrementCascade, decrementInTransaction } from './decrement.js';
import { CounterNotFoundError } from './errors/counter-not-found-error.js';
import { type IncrementOutcome, incrementInTransaction } from './increment.js';
import { listCounters, readListOptions } from './list-counters.js';
import {
  completeDeletion,
  countersFencing,
  countersWithStatus,
  createCounter,
  finishDeletion,
  finishInterruptedFence,
  finishReset,
  finishShardChange,
  markDeleting,
  resetCounter,
  updateCounter,
} from './maintenance.js';
import {
  DECREMENT_OPTIONS,
  INCREMENT_OPTIONS,
  readCallOptions,
  readCounterChanges,
  readWriteOptions,
} from './method-options.js';
import {
  type CounterSnapshotRead,
  fillReadOf,
  readCounterForFill,
  readCounterFromStore,
  readCountersAndShards,
} from './read-counter.js';
import { resolveServiceOptions } from './resolve-options.js';
import {
  type CounterView,
  isMutable,
  quoteName,
  ServiceContext,
  type ShardClaim,
  toCounter,
} from './service-context.js';
import {
  assertAmount,
  assertCounterName,
  assertDescription,
  assertNumShards,
  MAX_GET_COUNTERS,
  readCounterNames,
} from './validation.js';

/** Automatic shard growth; see {@link ShardedCounterServiceOptions.autoShard}. */
export interface AutoShardOptions {
  /** Most shards automatic growth may reach, 1 to `MAX_SHARDS`. */
  readonly maxShards: number;
  /**
   * Least time between two growth attempts of one counter by this service instance, in
   * milliseconds. Default 1000.
   */
  readonly cooldownMs?: number;
}

/** Options of {@link ShardedCounterService}. */
export interface ShardedCounterServiceOptions {
  /** Where counters live: a `DatastoreEntityStore` in production, `MemoryEntityStore` in tests. */
  readonly store: EntityStore;
  /** Where cached totals live: a `MemcachedCacheStore` in production, `MemoryCacheStore` in tests. */
  readonly cache: CacheStore;
  /** Shards of a counter created by its first increment. Default 3. */
  readonly numInitialShards?: number;
  /**
   * Lifetime of a cached total, in seconds, counted from the read that filled it (writers'
   * adjustments do not extend it). This bounds how long the cache can disagree with the store
   * after a crash or a cache failure. Default 60.
   */
  readonly cacheTtlSeconds?: number;
  /** Lifetime of a reader's fill lease, in seconds. Default 5. */
  readonly cacheLeaseTtlSeconds?: number;
  /**
   * Deadline of each cache call, in milliseconds, on top of the cache adapter's own timeout;
   * a call past it counts as a cache failure. Default 1000.
   */
  readonly cacheTimeoutMs?: number;
  /**
   * Extra attempts at removing a cached total whose cache entry keeps changing under the
   * remover (at least 3 attempts in all). Writers never race each other on a cached total any
   * more (they use atomic `incr`), so this bounds only removals. Default 5.
   */
  readonly cacheCasRetries?: number;
  /**
   * Prefix of cache keys (`prefix + counter name`). Give each Datastore project/namespace its
   * own prefix when several share one memcached. Default `shardcount:`.
   */
  readonly cacheKeyPrefix?: string;
  /** Prefix of the Datastore kinds: `${prefix}Counter`, `${prefix}Shard`, `${prefix}Operation`. Default `Shardcount`. */
  readonly kindPrefix?: string;
  /**
   * How long this instance trusts its view of a counter's metadata (shard count, status) for
   * increments, in milliseconds. Increments read only their shard, which refuses a view older
   * than the last status change (its fence), so this bounds only how soon the instance sees a
   * change that needs no fence (growth by another instance, a shrink): a stale view costs at
   * most one refresh and a retry. Default 5000.
   */
  readonly metadataTtlMs?: number;
  /** Most counters whose metadata this instance remembers. Default 10,000. */
  readonly metadataMaxEntries?: number;
  /** Lifetime written into operation records (`expiresAt`) for a Datastore TTL policy, in seconds. Default 7 days. */
  readonly idempotencyTtlSeconds?: number;
  /**
   * Retry policy of the service's transactions on contention, merged over storage's
   * `DEFAULT_RETRY_POLICY` with `retries: 20` (the store instance's own policy does not apply):
   * counters are where contention lives, and a lost race writes nothing, so retrying is always
   * safe (autoShard removes the contention itself). Checked by the constructor; ranges on
   * `RetryPolicy`.
   */
  readonly retry?: Partial<RetryPolicy>;
  /**
   * When given, a counter whose increments see contention doubles its shard count, up to
   * `maxShards`. Growth runs off the caller's path (the increment that saw contention does not
   * wait for it), touches only the counter and the new shards, and never loses or
   * double-counts anything.
   */
  readonly autoShard?: AutoShardOptions;
  /**
   * Most entities one transaction may write, to size batches (shrink, reset, exact decrements);
   * at most the store's `limits.maxMutationsPerCommit`, which is the default (Datastore: 500).
   * On legacy Cloud Datastore, 25 keeps resets and shrink steps within its 25 entity groups
   * per transaction at any shard count.
   */
  readonly maxWritesPerTransaction?: number;
  /**
   * Default deadline of every call, in milliseconds (1 to 2^31 − 1), for calls that do not
   * give their own `timeoutMs`; none by default. As for each call's `timeoutMs`: past it a call
   * rejects with `DeadlineExceededError` and writes nothing, or with `AmbiguousCommitError`
   * when its commit was in flight.
   */
  readonly timeoutMs?: number;
}

/**
 * Durable sharded counters on an `EntityStore` with a stale-proof cached total in a
 * `CacheStore` (both from `@shardcount/storage`).
 *
 * - `increment`: one transaction over one shard (the counter entity is not read: this
 *   instance's view of it is fenced by the shard): begin, ONE lookup, commit; plus, after the
 *   commit, two cache round trips (`get` of the cached total, atomic `incr` of its count).
 *   Concurrent increments from one instance take distinct shards, so it never contends with
 *   itself.
 * - `getCounter`: one cache round trip on a hit; on a miss, one batched lookup of all shards
 *   (two for counters of more than 999 shards) and a leased fill that can never store a stale
 *   total.
 *
 * Legacy Cloud Datastore lets one transaction touch at most 25 entity groups, and every counter,
 * shard and operation record is a group of its own. `reset`, shrinking with `updateCounter`,
 * `decrement` with `mode: 'exact'` or `isolated: false`, and increments of enormous counts
 * (past {@link SHARD_FAST_PATH_LIMIT}) read many shards in one transaction: on legacy Datastore
 * they fail with `LimitExceededError`, writing nothing, once a counter has more than 23 shards.
 * Use Firestore in Datastore mode, or keep `numShards` (and `autoShard.maxShards`) at 23 or
 * less there (`maxWritesPerTransaction: 25` rescues resets and shrinking, not the others).
 *
 * @example
 * ```ts
 * import { Datastore } from '@google-cloud/datastore';
 * import { DatastoreEntityStore } from '@shardcount/storage/datastore';
 * import { MemcachedCacheStore } from '@shardcount/storage/memcached';
 *
 * const service = new ShardedCounterService({
 *   store: new DatastoreEntityStore({ datastore: new Datastore({ projectId: 'my-project' }) }),
 *   cache: new MemcachedCacheStore({ servers: '10.0.0.3:11211' }),
 * });
 * await service.increment('page-views');
 * const counter = await service.getCounter('page-views');
 * ```
 */
export class ShardedCounterService {
  readonly #ctx: ServiceContext;
  readonly #events = new CounterEvents();
  readonly #autoShard: { readonly maxShards: number; readonly cooldownMs: number } | undefined;
  readonly #lastGrowth = new Map<string, number>();
  /** The service-wide default deadline (`options.timeoutMs`). */
  readonly #timeoutMs: number | undefined;
  /** Background deletions still running (see {@link close}). */
  readonly #background = new Set<Promise<void>>();

  /**
   * Creates the service. No I/O happens here.
   *
   * @param options - store, cache and tuning; see {@link ShardedCounterServiceOptions}
   * @throws InvalidArgumentError for an option out of range, of the wrong type, `null`, or not
   *   declared by {@link ShardedCounterServiceOptions} (naming it in `context.argument`)
   */
  constructor(options: ShardedCounterServiceOptions) {
    const resolved = resolveServiceOptions(options);
    this.#autoShard = resolved.autoShard;
    this.#timeoutMs = resolved.timeoutMs;
    const totals = new CachedTotals(
      resolved.cache,
      {
        keyPrefix: resolved.cacheKeyPrefix,
        ttlSeconds: resolved.cacheTtlSeconds,
        leaseTtlSeconds: resolved.cacheLeaseTtlSeconds,
        timeoutMs: resolved.cacheTimeoutMs,
        casRetries: resolved.cacheCasRetries,
      },
      this.#events,
    );
    this.#ctx = new ServiceContext(
      resolved.store,
      resolved.kinds,
      totals,
      this.#events,
      {
        numInitialShards: resolved.numInitialShards,
        idempotencyTtlSeconds: resolved.idempotencyTtlSeconds,
        maxWritesPerTransaction: resolved.maxWritesPerTransaction,
        retry: resolved.retry,
      },
      { ttlMs: resolved.metadataTtlMs, maxEntries: resolved.metadataMaxEntries },
    );
  }

  /**
   * Subscribes to an event (contention, retries, cache hits, misses and errors, shard growth),
   * e.g. to feed metrics. Returns a function that unsubscribes.
   */
  on<E extends keyof CounterEventMap>(event: E, listener: CounterEventListener<E>): () => void {
    assertOneOf(event, 'event', COUNTER_EVENT_NAMES);
    assertFunction(listener, 'listener');
    return this.#events.on(event, listener);
  }

  /**
   * Adds `amount` (a positive safe integer, default 1) to the counter, creating it on first
   * use with `numInitialShards` shards.
   *
   * With `isolated: false` inside a transaction of the service's store (`store.transact`), the
   * increment joins it and the cached total is adjusted once that transaction commits (through
   * the store's `afterCommit`); nothing happens to it on a rollback. If that commit ends in
   * `AmbiguousCommitError`, the service never learns of it: the cached total may miss the
   * change until it expires (`cacheTtlSeconds` after the read that filled it), or until the
   * caller retries with the same `idempotencyKey`, whose replay deletes the cached total.
   *
   * @throws InvalidArgumentError / OutOfRangeError for a bad name or amount (before any I/O)
   * @throws OutOfRangeError when the total would pass `Number.MAX_SAFE_INTEGER` (nothing written)
   * @throws CounterNotMutableError when the counter is read-only, being deleted or reset
   * @throws AmbiguousCommitError when the commit's outcome is unknown; retry with the same
   *   `idempotencyKey` to apply it exactly once
   */
  increment(name: string, amount = 1, options: IncrementOptions = {}): Promise<CounterOperation> {
    const channel = CORE_CHANNELS.increment;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers)
      return this.#increment(name, amount, options, undefined);
    const message = coreMessage('increment', name);
    return channel.tracePromise(() => this.#increment(name, amount, options, message), message);
  }

  async #increment(
    name: string,
    amount: number,
    options: IncrementOptions,
    trace: OperationMessage | undefined,
  ): Promise<CounterOperation> {
    assertCounterName(name);
    assertAmount(amount, name);
    const { isolated, idempotencyKey, call } = readWriteOptions(options, name, INCREMENT_OPTIONS);
    setAttribute(trace, 'shardcount.amount', amount);
    return this.#operate(call, 'increment', name, () =>
      this.#incrementChecked(name, amount, isolated, idempotencyKey, trace),
    );
  }

  async #incrementChecked(
    name: string,
    amount: number,
    isolated: boolean | undefined,
    idempotencyKey: string | undefined,
    trace: OperationMessage | undefined,
  ): Promise<CounterOperation> {
    let attempts = 0;
    const ctx = this.#ctx;
    const joined = isolated === false && ctx.store.inTransaction;
    let view = ctx.view(name);
    // No view yet (this process's first increment of the counter), or one that would refuse
    // the increment (a refusal must come from the store): read the counter outside the
    // transaction. Only a counter that does not exist yet leaves the increment to the slow
    // path, which reads (and creates) it inside.
    if (view === undefined || !isMutable(view.counter)) view = await this.#refreshView(name);
    let contended = false;
    let slow = false;
    let outcome: IncrementOutcome | undefined;
    try {
      for (let refreshes = 0; outcome === undefined; refreshes++) {
        let claim: ShardClaim | undefined;
        const current = view;
        try {
          const attempt = await ctx.run(
            name,
            'increment',
            () => {
              attempts += 1;
              claim?.release();
              claim = ctx.claimShard(name, current?.writable ?? ctx.settings.numInitialShards);
              return incrementInTransaction(
                ctx,
                name,
                amount,
                idempotencyKey,
                current,
                claim.index,
                slow,
              );
            },
            { joined, onContention: () => (contended = true) },
          );
          if (attempt.kind === 'done') outcome = attempt;
        } finally {
          claim?.release();
        }
        if (outcome === undefined) {
          // The shard's fence moved past this view: read the counter again. A second miss in a
          // row (a shard left unstamped by an interrupted fence) takes the slow path, which
          // reads the counter in the transaction and stamps the shard.
          view = await this.#refreshView(name);
          slow = refreshes >= 1;
        }
      }
    } catch (error) {
      setAttribute(trace, 'shardcount.attempts', attempts);
      if (error instanceof AmbiguousCommitError) await ctx.totals.invalidate(name);
      throw error;
    }
    setAttribute(trace, 'shardcount.attempts', attempts);
    setAttribute(trace, 'shardcount.shard', outcome.operation.shardIndex);
    if (outcome.operation.replayed) setAttribute(trace, 'shardcount.replayed', true);
    if (outcome.counter !== undefined) ctx.remember(outcome.counter);
    const seen = outcome.counter ?? view?.counter;
    if (contended && !joined && seen !== undefined) {
      // Off the caller's path (and its deadline): the increment has committed; growth runs on
      // its own.
      const grow = () => this.#maybeGrow(name, seen.numShards, seen.status);
      void ctx.detached(grow).catch(() => undefined);
    }
    return outcome.operation;
  }

  /**
   * Removes up to `amount` (default 1) from the counter; no shard ever goes below zero. With
   * `mode: 'exact'`, removes exactly `amount` in one transaction or nothing.
   *
   * `isolated: false` joins the caller's transaction as `increment` does (same cached-total
   * rules) and runs the whole decrement in it.
   *
   * A one-transaction decrement (`exact`, or `isolated: false`) reads and writes every shard it
   * needs in that transaction: at most `maxWritesPerTransaction` (Datastore: 500) writes, and
   * on legacy Cloud Datastore at most 25 entity groups (the counter, the operation record and
   * 23 shards); past either it fails with `LimitExceededError` and writes nothing.
   *
   * @returns the operation; `appliedAmount` is what was really removed
   * @throws InsufficientCountError in `exact` mode when the counter holds less than `amount`
   * @throws LimitExceededError when one transaction would need more writes (or, on legacy
   *   Datastore, entity groups) than allowed
   * @throws CounterNotMutableError when the counter is read-only, being deleted or reset
   * @throws AmbiguousCommitError when a commit's outcome is unknown
   */
  decrement(name: string, amount = 1, options: DecrementOptions = {}): Promise<CounterOperation> {
    const channel = CORE_CHANNELS.decrement;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers)
      return this.#decrement(name, amount, options, undefined);
    const message = coreMessage('decrement', name);
    return channel.tracePromise(() => this.#decrement(name, amount, options, message), message);
  }

  async #decrement(
    name: string,
    amount: number,
    options: DecrementOptions,
    trace: OperationMessage | undefined,
  ): Promise<CounterOperation> {
    assertCounterName(name);
    assertAmount(amount, name);
    const { isolated, idempotencyKey, mode, call } = readWriteOptions(
      options,
      name,
      DECREMENT_OPTIONS,
    );
    setAttribute(trace, 'shardcount.amount', amount);
    setAttribute(trace, 'shardcount.mode', mode);
    const oneTransaction = mode === 'exact' || isolated === false;
    if (idempotencyKey !== undefined && !oneTransaction) {
      throw new InvalidArgumentError(
        "options.idempotencyKey needs a decrement that runs as one transaction: mode 'exact' or isolated: false (an 'upTo' decrement spans several transactions).",
        { context: { argument: 'options.idempotencyKey', counterName: name } },
      );
    }
    return this.#operate(call, 'decrement', name, () =>
      this.#decrementChecked(name, amount, isolated, idempotencyKey, mode, trace),
    );
  }

  async #decrementChecked(
    name: string,
    amount: number,
    isolated: boolean | undefined,
    idempotencyKey: string | undefined,
    mode: 'upTo' | 'exact',
    trace: OperationMessage | undefined,
  ): Promise<CounterOperation> {
    const oneTransaction = mode === 'exact' || isolated === false;
    const ctx = this.#ctx;
    const joined = isolated === false && ctx.store.inTransaction;
    const progress = { applied: 0 };
    let outcome: Awaited<ReturnType<typeof decrementCascade>>;
    try {
      outcome = oneTransaction
        ? await ctx.run(
            name,
            'decrement',
            () => decrementInTransaction(ctx, name, amount, mode, idempotencyKey),
            { joined },
          )
        : await decrementCascade(ctx, name, amount, progress);
    } catch (error) {
      if (error instanceof AmbiguousCommitError || progress.applied > 0) {
        await ctx.totals.invalidate(name);
      }
      throw error;
    }
    if (outcome.counter !== undefined) ctx.remember(outcome.counter);
    setAttribute(trace, 'shardcount.shard', outcome.operation.shardIndex);
    setAttribute(trace, 'shardcount.applied_amount', outcome.operation.appliedAmount);
    if (outcome.operation.replayed) setAttribute(trace, 'shardcount.replayed', true);
    return outcome.operation;
  }

  /**
   * The counter with its total, or `undefined` when it does not exist. From the cache when it
   * holds the total (one round trip); otherwise from the store (one batched lookup of the
   * counter and its shards), filling the cache with a lease so no stale total can land.
   */
  getCounter(name: string, options: GetCounterOptions = {}): Promise<Counter | undefined> {
    const channel = CORE_CHANNELS.getCounter;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers)
      return this.#getCounter(name, options, undefined);
    const message = coreMessage('getCounter', name);
    return channel.tracePromise(() => this.#getCounter(name, options, message), message);
  }

  async #getCounter(
    name: string,
    options: GetCounterOptions,
    trace: OperationMessage | undefined,
  ): Promise<Counter | undefined> {
    assertCounterName(name);
    const { skipCache, call } = readCallOptions(options, ['skipCache'], { counterName: name });
    if (skipCache !== undefined) assertBoolean(skipCache, 'options.skipCache');
    return this.#operate(
      call,
      'getCounter',
      name,
      () => this.#getCounterChecked(name, skipCache === true, trace),
      true,
    );
  }

  async #getCounterChecked(
    name: string,
    skipCache: boolean,
    trace: OperationMessage | undefined,
  ): Promise<Counter | undefined> {
    const ctx = this.#ctx;
    if (skipCache) {
      setAttribute(trace, 'shardcount.cache.outcome', 'skipped');
      return readCounterFromStore(ctx, name);
    }
    const cached = await ctx.totals.read(name);
    setAttribute(trace, 'shardcount.cache.outcome', cached.state === 'hit' ? 'hit' : 'miss');
    if (cached.state === 'hit') return cached.counter;
    const read = await readCounterForFill(ctx, name);
    if (cached.ticket !== undefined) await ctx.totals.fill(name, cached.ticket, read);
    return read.counter;
  }

  /**
   * Many counters at once, in the order of `names` (a name given twice gets the same answer
   * twice; `undefined` where a counter does not exist). One cache `getMany` for all of them
   * (plus, for a cached total this process has not read before, one `get` of its count); the
   * counters the cache cannot answer are read from the store in one batched lookup (split
   * into lookups of at most the store's `limits.maxLookupKeys` keys, sent in parallel, each
   * counter with its shards in one lookup) and filled into the cache under the same leases as
   * {@link getCounter}, so a batch read never stores a stale total. `skipCache` reads them all
   * from the store.
   *
   * @param names - at most {@link MAX_GET_COUNTERS} counter names
   * @throws InvalidArgumentError when `names` is not an array of valid counter names, or holds
   *   more than {@link MAX_GET_COUNTERS} (before any I/O)
   */
  getCounters(
    names: readonly string[],
    options: GetCounterOptions = {},
  ): Promise<Array<Counter | undefined>> {
    const channel = CORE_CHANNELS.getCounters;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers)
      return this.#getCounters(names, options, undefined);
    const message = coreMessage('getCounters', undefined);
    return channel.tracePromise(() => this.#getCounters(names, options, message), message);
  }

  async #getCounters(
    names: readonly string[],
    options: GetCounterOptions,
    trace: OperationMessage | undefined,
  ): Promise<Array<Counter | undefined>> {
    const checked = readCounterNames(names, 'names', MAX_GET_COUNTERS);
    const { skipCache, call } = readCallOptions(options, ['skipCache']);
    if (skipCache !== undefined) assertBoolean(skipCache, 'options.skipCache');
    return this.#operate(
      call,
      'getCounters',
      undefined,
      () => this.#getCountersChecked(checked, skipCache === true, trace),
      true,
    );
  }

  async #getCountersChecked(
    names: readonly string[],
    skipCache: boolean,
    trace: OperationMessage | undefined,
  ): Promise<Array<Counter | undefined>> {
    const unique = [...new Set(names)];
    setAttribute(trace, 'shardcount.counters', unique.length);
    const ctx = this.#ctx;
    const found = new Map<string, Counter | undefined>();
    if (skipCache) {
      setAttribute(trace, 'shardcount.cache.outcome', 'skipped');
      const reads = await readCountersAndShards(ctx, unique);
      unique.forEach((name, i) => {
        found.set(name, fillReadOf(reads[i] as CounterSnapshotRead).counter);
      });
    } else {
      const cached = await ctx.totals.readMany(unique);
      const misses: Array<{ name: string; ticket: FillTicket | undefined }> = [];
      unique.forEach((name, i) => {
        const outcome = cached[i] as ReadOutcome;
        if (outcome.state === 'hit') found.set(name, outcome.counter);
        else misses.push({ name, ticket: outcome.ticket });
      });
      setAttribute(trace, 'shardcount.cache.misses', misses.length);
      if (misses.length > 0) {
        const reads = await readCountersAndShards(
          ctx,
          misses.map((miss) => miss.name),
        );
        await Promise.all(
          misses.map(async ({ name, ticket }, i) => {
            const read = fillReadOf(reads[i] as CounterSnapshotRead);
            found.set(name, read.counter);
            if (ticket !== undefined) await ctx.totals.fill(name, ticket, read);
          }),
        );
      }
    }
    return names.map((name) => found.get(name));
  }

  /**
   * One page of counters' metadata (name, shards, status, description, dates; no count, so no
   * shard is read), ordered by name, from one query of the counter kind. Filter by name
   * `prefix` and `status`; pass the returned `cursor` back (with the same filters) for the
   * next page, until it is `undefined`. Counters created or deleted while paging may or may not
   * appear; none appears twice.
   *
   * @throws InvalidArgumentError for a bad option (a `limit` outside 1 to
   *   {@link MAX_LIST_LIMIT}, an unknown status, a cursor no page returned), before any I/O
   */
  listCounters(options: ListCountersOptions = {}): Promise<CounterPage> {
    const channel = CORE_CHANNELS.listCounters;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers) return this.#listCounters(options);
    return channel.tracePromise(
      () => this.#listCounters(options),
      coreMessage('listCounters', undefined),
    );
  }

  async #listCounters(options: ListCountersOptions): Promise<CounterPage> {
    const request = readListOptions(options);
    return this.#operate(
      request.call,
      'listCounters',
      undefined,
      () => listCounters(this.#ctx, request),
      true,
    );
  }

  /**
   * Creates a counter with a count of 0.
   *
   * @throws CounterExistsError when the name is taken (also while it is being deleted)
   */
  createCounter(name: string, options: CreateCounterOptions = {}): Promise<Counter> {
    const channel = CORE_CHANNELS.createCounter;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers)
      return this.#createCounter(name, options, undefined);
    const message = coreMessage('createCounter', name);
    return channel.tracePromise(() => this.#createCounter(name, options, message), message);
  }

  async #createCounter(
    name: string,
    options: CreateCounterOptions,
    trace: OperationMessage | undefined,
  ): Promise<Counter> {
    assertCounterName(name);
    const fields = readCallOptions(options, ['numShards', 'description'], { counterName: name });
    const numShards =
      fields.numShards === undefined ? this.#ctx.settings.numInitialShards : fields.numShards;
    assertNumShards(numShards, 'options.numShards');
    const description = fields.description === undefined ? '' : fields.description;
    assertDescription(description, 'options.description');
    setAttribute(trace, 'shardcount.shards', numShards);
    return this.#operate(fields.call, 'createCounter', name, async () =>
      toCounter(await createCounter(this.#ctx, name, numShards, description), 0),
    );
  }

  /**
   * Changes a counter's description, status (`AVAILABLE` or `READ_ONLY_COUNT`) or shard count.
   * Growing is immediate; shrinking moves the removed shards' counts into the kept ones in
   * transactions, so the total never changes. An interrupted shrink or reset is finished first.
   * Each shrink step reads up to 200 removed shards and the kept shards receiving their counts
   * in one transaction (the first step commits with the status change): on legacy Cloud
   * Datastore (25 entity groups per transaction) shrinking a counter of more than 23 shards
   * fails with `LimitExceededError` and changes nothing, unless `maxWritesPerTransaction` is 25
   * or less (12 removed shards per step).
   *
   * @returns the counter after the change, read from the store
   * @throws CounterNotFoundError, CounterNotMutableError (while `DELETING`)
   */
  updateCounter(name: string, options: UpdateCounterOptions): Promise<Counter> {
    const channel = CORE_CHANNELS.updateCounter;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers)
      return this.#updateCounter(name, options, undefined);
    const message = coreMessage('updateCounter', name);
    return channel.tracePromise(() => this.#updateCounter(name, options, message), message);
  }

  async #updateCounter(
    name: string,
    options: UpdateCounterOptions,
    trace: OperationMessage | undefined,
  ): Promise<Counter> {
    assertCounterName(name);
    const changes = readCounterChanges(options, name);
    if (changes.numShards !== undefined)
      setAttribute(trace, 'shardcount.shards', changes.numShards);
    if (changes.status !== undefined) setAttribute(trace, 'shardcount.status', changes.status);
    return this.#operate(changes.call, 'updateCounter', name, async () => {
      await updateCounter(this.#ctx, name, changes);
      const counter = await readCounterFromStore(this.#ctx, name);
      if (counter === undefined) {
        throw new CounterNotFoundError(
          `Counter ${quoteName(name)} was deleted during the update.`,
          { context: { counterName: name } },
        );
      }
      return counter;
    });
  }

  /**
   * Sets the count to zero: in one transaction over the counter and every shard when they fit
   * `maxWritesPerTransaction`, otherwise in batches of `maxWritesPerTransaction - 1` shards,
   * the first of which commits with status `RESETTING` (count reads 0 and changes are refused
   * until the last). Each transaction reads its batch of shards: on legacy Cloud Datastore
   * (25 entity groups per transaction) resetting a counter of more than 23 shards fails with
   * `LimitExceededError` and changes nothing, unless `maxWritesPerTransaction` is 25 or less.
   *
   * @throws CounterNotFoundError, CounterNotMutableError (read-only or being deleted)
   * @throws LimitExceededError past the legacy Datastore entity-group limit
   */
  reset(name: string, options: OperationOptions = {}): Promise<void> {
    const channel = CORE_CHANNELS.reset;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers) return this.#reset(name, options);
    return channel.tracePromise(() => this.#reset(name, options), coreMessage('reset', name));
  }

  async #reset(name: string, options: OperationOptions): Promise<void> {
    assertCounterName(name);
    const { call } = readCallOptions(options, [], { counterName: name });
    return this.#operate(call, 'reset', name, () => resetCounter(this.#ctx, name));
  }

  /**
   * Deletes a counter: marks it `DELETING` (its count reads 0 and changes are refused), removes
   * its shards and operation records in batches, then the counter. A deletion interrupted by
   * a crash is finished by calling `delete` again or {@link resumeDeletions}.
   *
   * With `wait: false` it returns once the counter is marked; the removal runs in the
   * background of this process (`getCounter` shows `DELETING` meanwhile). A failure there is
   * reported through the `deletionFailed` event, never as an unhandled rejection, and leaves
   * the counter `DELETING` for {@link resumeDeletions}. {@link close} waits for background
   * deletions; a process that exits first leaves them to `resumeDeletions` in another.
   *
   * @returns whether the counter existed
   */
  delete(name: string, options: DeleteOptions = {}): Promise<boolean> {
    const channel = CORE_CHANNELS.delete;
    if (!OPERATION_TRACING.core || !channel.hasSubscribers)
      return this.#delete(name, options, undefined);
    const message = coreMessage('delete', name);
    return channel.tracePromise(() => this.#delete(name, options, message), message);
  }

  async #delete(
    name: string,
    options: DeleteOptions,
    trace: OperationMessage | undefined,
  ): Promise<boolean> {
    assertCounterName(name);
    const { wait, call } = readCallOptions(options, ['wait'], { counterName: name });
    if (wait !== undefined) assertBoolean(wait, 'options.wait', { counterName: name });
    return this.#operate(call, 'delete', name, () => this.#deleteChecked(name, wait, trace));
  }

  async #deleteChecked(
    name: string,
    wait: boolean | undefined,
    trace: OperationMessage | undefined,
  ): Promise<boolean> {
    const marked = await markDeleting(this.#ctx, name);
    setAttribute(trace, 'shardcount.existed', marked !== undefined);
    if (marked === undefined) return false;
    if (wait === false) {
      setAttribute(trace, 'shardcount.background', true);
      // Off the caller's path and its deadline.
      this.#ctx.detached(() =>
        this.#inBackground(name, () => completeDeletion(this.#ctx, name, marked)),
      );
      return true;
    }
    await completeDeletion(this.#ctx, name, marked);
    return true;
  }

  /**
   * Runs `work` off the caller's path, tracked so {@link close} can wait for it; a failure is
   * reported as `deletionFailed`, never left as an unhandled rejection.
   */
  #inBackground(name: string, work: () => Promise<void>): void {
    const running: Promise<void> = work()
      .catch((caught: unknown) => {
        const error = caught instanceof Error ? caught : new Error(String(caught));
        this.#events.emit('deletionFailed', { counterName: name, error });
      })
      .finally(() => {
        this.#background.delete(running);
      });
    this.#background.add(running);
  }

  /**
   * Waits for the work this service runs in the background (deletions started with
   * `wait: false`) to end, including any started while waiting. The store and the cache are
   * the caller's: they stay open. The service remains usable.
   */
  async close(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** Finishes every interrupted deletion; returns the names of the counters deleted. */
  resumeDeletions(options: OperationOptions = {}): Promise<string[]> {
    try {
      const { call } = readCallOptions(options, []);
      return this.#operate(call, 'resumeDeletions', undefined, () => this.#resumeDeletions());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #resumeDeletions(): Promise<string[]> {
    const names = await countersWithStatus(this.#ctx, CounterStatus.DELETING);
    const done: string[] = [];
    for (const name of names) {
      if (await finishDeletion(this.#ctx, name)) done.push(name);
    }
    return done;
  }

  /**
   * Finishes every interrupted fence (a status change's stamping of the shards), deletion,
   * shard reduction and reset.
   */
  resumeInterrupted(options: OperationOptions = {}): Promise<ResumeReport> {
    try {
      const { call } = readCallOptions(options, []);
      return this.#operate(call, 'resumeInterrupted', undefined, () => this.#resumeInterrupted());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #resumeInterrupted(): Promise<ResumeReport> {
    const fences: string[] = [];
    for (const name of await countersFencing(this.#ctx)) {
      if (await finishInterruptedFence(this.#ctx, name)) fences.push(name);
    }
    const deleted = await this.#resumeDeletions();
    const shardChanges: string[] = [];
    for (const name of await countersWithStatus(this.#ctx, CounterStatus.CHANGING_SHARDS)) {
      if (await finishShardChange(this.#ctx, name)) shardChanges.push(name);
    }
    const resets: string[] = [];
    for (const name of await countersWithStatus(this.#ctx, CounterStatus.RESETTING)) {
      if (await finishReset(this.#ctx, name)) resets.push(name);
    }
    return { deleted, shardChanges, resets, fences };
  }

  /**
   * Runs `body` under the call's signal and deadline (or the service-wide default): every step
   * of the operation stops at it (see `ServiceContext.run`). Without either, `body` runs as it
   * is (nothing is allocated). `readOnly` operations are raced with the signal as a whole:
   * dropping a read is always safe.
   */
  #operate<T>(
    call: CallOptions,
    operation: string,
    counterName: string | undefined,
    body: () => Promise<T>,
    readOnly = false,
  ): Promise<T> {
    const ctx = this.#ctx;
    if (
      call.signal === undefined &&
      call.timeoutMs === undefined &&
      this.#timeoutMs === undefined
    ) {
      // Not under an outer operation's signal (a listener calling the service from an event).
      return ctx.signal === undefined ? body() : ctx.withSignal(undefined, body);
    }
    const context = counterName === undefined ? { operation } : { operation, counterName };
    const op = openOperationSignal(call, this.#timeoutMs, context) as OperationSignal;
    return this.#underSignal(op, body, readOnly);
  }

  async #underSignal<T>(
    op: OperationSignal,
    body: () => Promise<T>,
    readOnly: boolean,
  ): Promise<T> {
    try {
      op.throwIfEnded();
      const running = this.#ctx.withSignal(op.signal, body);
      return await (readOnly ? raceSignal(running, op.signal) : running);
    } finally {
      op.dispose();
    }
  }

  /** Reads the counter outside any transaction and keeps it as this process's view. */
  async #refreshView(name: string): Promise<CounterView | undefined> {
    const ctx = this.#ctx;
    const counter = await ctx.guard(
      ctx.store.transactionless(() => ctx.store.load(counterKey(ctx.kinds, name))),
    );
    if (counter === undefined) {
      ctx.forget(name);
      return undefined;
    }
    ctx.remember(counter);
    return ctx.view(name);
  }

  /**
   * Doubles a contended counter's shards, at most once per cooldown per instance. Runs off
   * the increment's path (never rejects), and its transaction touches only the counter entity
   * and the new shards, which fast-path increments never read: it does not contend with them.
   * The new shards are created with the counter's fence when they fit the transaction, so
   * increments use them at once on the fast path (a shard still missing sends one increment
   * to the slow path).
   */
  async #maybeGrow(name: string, seenShards: number, status: CounterStatus): Promise<void> {
    const auto = this.#autoShard;
    if (auto === undefined || seenShards >= auto.maxShards || status !== CounterStatus.AVAILABLE) {
      return;
    }
    const now = Date.now();
    const last = this.#lastGrowth.get(name);
    if (last !== undefined && now - last < auto.cooldownMs) return;
    this.#lastGrowth.set(name, now);
    if (this.#lastGrowth.size > 10_000) {
      for (const [key, at] of this.#lastGrowth) {
        if (now - at >= auto.cooldownMs) this.#lastGrowth.delete(key);
      }
    }
    const to = Math.min(seenShards * 2, auto.maxShards, MAX_SHARDS);
    const ctx = this.#ctx;
    let grown: CounterData | undefined;
    try {
      grown = await ctx.run(name, 'autoShard', async () => {
        const counter = await ctx.store.load(counterKey(ctx.kinds, name));
        // Compare-and-double: a concurrent grower (another instance) already did it.
        if (
          counter === undefined ||
          counter.status !== CounterStatus.AVAILABLE ||
          counter.numShards !== seenShards
        ) {
          return undefined;
        }
        const updatedAt = new Date();
        const next: CounterData = { ...counter, numShards: to, updatedAt };
        await ctx.store.save(counterKey(ctx.kinds, name), next);
        if (to - seenShards < ctx.settings.maxWritesPerTransaction) {
          const keys = shardKeys(ctx.kinds, name, seenShards, to);
          const existing = await ctx.store.loadMany(keys);
          await ctx.store.saveMany(
            keys.flatMap((key, i) =>
              existing[i] !== undefined
                ? []
                : [
                    {
                      key,
                      entity: {
                        counterName: name,
                        index: seenShards + i,
                        count: 0,
                        fence: counter.fenceEpoch ?? 0,
                        seq: 0,
                        createdAt: updatedAt,
                        updatedAt,
                      },
                    },
                  ],
            ),
          );
        }
        return next;
      });
    } catch {
      // Growth is an optimisation; the increment itself has committed.
      return;
    }
    if (grown === undefined) return;
    ctx.remember(grown);
    await ctx.totals.invalidate(name);
    this.#events.emit('shardsGrown', { counterName: name, fromShards: seenShards, toShards: to });
  }
}
