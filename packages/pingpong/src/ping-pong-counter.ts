import {
  assertCallOptions,
  assertFunction,
  assertObject,
  assertOneOf,
  assertTimerMs,
  CALL_OPTION_FIELDS,
  CacheUnavailableError,
  type CacheValue,
  type CallOptions,
  type DeadlineExceededError,
  type OperationAbortedError,
  type OperationMessage,
  type OperationSignal,
  OutOfRangeError,
  type QueryResult,
  raceSignal,
  readOptions,
  TypedEvents,
} from '@shardcount/storage';
import {
  counterKey,
  loadedCounterEntity,
  newCounterEntity,
  openStart,
  type PingPongCounterEntity,
  PingPongCounterKind,
  revised,
} from './counter-entity.js';
import {
  type CounterPage,
  encodeCursor,
  type ListCountersOptions,
  listEntryOf,
  readListingQuery,
} from './counter-listing.js';
import type { CounterValue, IncrementOutcome, PingPongStats } from './counter-value.js';
import {
  type DrainInput,
  type DrainResult,
  drainInto,
  resetInto,
  type SlotValues,
} from './drain.js';
import { type EpochRange, EpochSchedule } from './epoch-schedule.js';
import { CounterClosedError } from './errors/counter-closed-error.js';
import type {
  CounterLoss,
  FlusherOptions,
  FlushFailure,
  FlushOptions,
  FlushReport,
} from './flush-report.js';
import { forEachLimited } from './map-limit.js';
import { NameRegistry, type NotedName } from './name-registry.js';
import {
  openScope,
  readCallOptions,
  readWithin,
  storeCall,
  transactWithin,
  writeWithin,
} from './operation-scope.js';
import {
  type CacheUnavailablePolicy,
  type PingPongCounterOptions,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import {
  PINGPONG_EVENT_NAMES,
  type PingPongEventListener,
  type PingPongEventMap,
} from './pingpong-events.js';
import { PINGPONG_CHANNELS, pingpongMessage, setAttribute } from './pingpong-tracing.js';
import { slotKey } from './slot-keys.js';
import {
  assertCounterName,
  assertDelta,
  readCounterNameList,
  readCounterNames,
} from './validation.js';

/** Most names one {@link PingPongCounter.getMany} call reads. */
export const MAX_GET_MANY_NAMES = 1_000;

/** Most slot keys one flush reads in one cache round trip. */
const MAX_KEYS_PER_READ = 1_000;

/**
 * Most epochs of one counter a flush (or `get`, `reset`) reads; a longer backlog (after an
 * outage of more than this many intervals) is worked through by the following flushes.
 */
const MAX_EPOCHS_PER_READ = 500;

/**
 * A counter whose slots hold nothing new is written only once this many epochs can be
 * closed, so a quiet counter costs a transaction every few intervals, not every flush.
 */
const CLOSE_EVERY_EPOCHS = 4;

/** Entities written in one registration transaction (legacy Datastore allows 25 groups). */
const REGISTRATION_CHUNK = 25;

interface Flusher {
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  stopped: boolean;
}

/** One counter a flush works on. */
interface FlushTarget {
  readonly name: string;
  /** The entity as read before the slots (registry query or lookup); absent when none. */
  readonly snapshot: PingPongCounterEntity | undefined;
  /** Epochs whose slots are read. */
  readonly read: EpochRange;
}

/**
 * A cheap, buffered counter: increments cost one memcached round trip and never touch the
 * datastore; a flusher moves settled amounts into a durable count, exactly once.
 *
 * Time is cut into epochs of `intervalMs`. An increment adds to the slot of the current
 * epoch (`incr` with an initial value: the slot is created atomically on the server, so
 * no two processes can race to create it). A flush drains the open epochs that have ended:
 * in one transaction per counter it adds to the durable count what each slot holds beyond
 * the watermark stored for that epoch, raises the watermark, and closes the epochs that
 * ended more than `intervalMs + settleMs` ago (they are never read again). Every decision
 * comes from what that transaction reads, so running it twice, from two processes at once,
 * slowly, or again after a crash moves nothing twice, and an increment that lands in a slot
 * after it was drained (but before it closed) is moved by the next flush.
 *
 * Slots are never deleted; they expire `retentionMs` after their epoch (default 24 h), so
 * counts wait in memcache through Datastore outages and missed flushes shorter than that.
 * The only loss is memcache losing a slot before its flush (eviction, restart); a flush
 * reports the losses it can detect ({@link FlushReport.lost}). See the package README.
 *
 * @example
 * ```ts
 * const views = new PingPongCounter({ cache, store, intervalMs: 60_000 });
 * await views.increment('home');
 * views.startFlusher({ everyMs: 60_000 }); // or call views.flush() from a cron endpoint
 * const { total } = await views.get('home');
 * ```
 */
export class PingPongCounter {
  /** Length of an epoch (the accuracy window), in milliseconds. */
  readonly intervalMs: number;
  /** Prefix of this counter set's memcache keys and entity keys. */
  readonly namespace: string;
  /** How long counts of an ended epoch wait in memcache for a flush, in milliseconds. */
  readonly retentionMs: number;
  /** TTL of every slot, in whole seconds (covers `retentionMs` after the epoch, plus margin). */
  readonly slotTtlSeconds: number;
  /** What increments do while memcached is unavailable. */
  readonly onCacheUnavailable: CacheUnavailablePolicy;
  readonly #options: ResolvedOptions;
  readonly #schedule: EpochSchedule;
  readonly #registry: NameRegistry;
  readonly #stats = {
    cached: 0,
    writtenThrough: 0,
    lostIncrements: 0,
    lostAmount: 0,
    cacheFailures: 0,
    flushes: 0,
    flushFailures: 0,
    lostEpochs: 0,
    idled: 0,
  };
  /** Options of every slot `incr`: made once, not per increment. */
  readonly #slotOptions: { readonly initial: 0; readonly ttlSeconds: number };
  readonly #events = new TypedEvents<PingPongEventMap>('pingpong');
  #flushChain: Promise<unknown> = Promise.resolve();
  #flusher: Flusher | undefined;
  #closed = false;

  /**
   * Checks every option before any I/O.
   *
   * @param options - cache, store, interval, retention and policies; see {@link PingPongCounterOptions}
   * @throws InvalidArgumentError for a missing cache or store, `intervalMs` below 1000, a
   *   `retentionMs` out of range, or any other invalid option
   */
  constructor(options: PingPongCounterOptions) {
    this.#options = resolveOptions(options);
    this.intervalMs = this.#options.intervalMs;
    this.namespace = this.#options.namespace;
    this.retentionMs = this.#options.retentionMs;
    this.slotTtlSeconds = this.#options.slotTtlSeconds;
    // Frozen: the cache checks a frozen options object once, not on every increment.
    this.#slotOptions = Object.freeze({ initial: 0, ttlSeconds: this.slotTtlSeconds });
    this.onCacheUnavailable = this.#options.onCacheUnavailable;
    this.#schedule = new EpochSchedule(this.#options.intervalMs, this.#options.settleMs);
    this.#registry = new NameRegistry(
      (names) => this.#register(names),
      this.#options.registrationDelayMs,
      this.#options.maxRememberedNames,
      Math.floor(this.#options.retentionMs / 4),
      this.#options.now,
      (names, error) => this.#events.emit('registrationError', { names, error }, undefined),
    );
  }

  /**
   * Subscribes to an event: `flushed` (every flush's report), `moved`, `movedDecrements`,
   * `lost`, `idled` and `flushError` from flushes, `writtenThrough` and `dropped` from
   * increments while memcached is down, `registrationError`. Listeners run synchronously;
   * one that throws is ignored, so it never breaks counting or flushing. Every event is
   * also published on the `shardcount:events` diagnostics channel.
   *
   * @param event - the event's name, one of {@link PINGPONG_EVENT_NAMES}
   * @param listener - called with the event's payload
   * @returns a function that unsubscribes the listener
   * @throws InvalidArgumentError for an unknown event or a listener that is not a function
   */
  on<E extends keyof PingPongEventMap>(event: E, listener: PingPongEventListener<E>): () => void {
    assertOneOf(event, 'event', PINGPONG_EVENT_NAMES);
    assertFunction(listener, 'listener');
    return this.#events.on(event, listener);
  }

  /**
   * Adds `delta` to the counter `name`: one memcached round trip into the active slot.
   * Negative deltas go to a separate decrement slot (memcached's `decr` stops at zero, so it
   * is never used); the durable count may go below zero. 0 does nothing.
   *
   * While memcached is unavailable, `onCacheUnavailable` applies. With `'write-through'` a
   * cache call that timed out after memcached applied it is counted twice (once in the slot,
   * once durably): a timeout cannot tell the two apart, and losing nothing is preferred.
   *
   * With a `signal` or a deadline (`options.timeoutMs`, else the counter's `timeoutMs`): an
   * abort before the cache call is sent rejects with `OperationAbortedError` (or
   * `DeadlineExceededError`) and records nothing; an abort while the `incr` (or the
   * write-through's commit) is in flight rejects with `AmbiguousCommitError`, since it may
   * still apply.
   *
   * @param name - counter name: non-blank, at most 500 UTF-8 bytes
   * @param delta - a safe integer; default 1
   * @param options - `signal` and `timeoutMs` of this call
   * @returns how the increment was recorded
   * @throws InvalidArgumentError before any I/O for a bad name, delta or option
   * @throws CacheUnavailableError with policy `'throw'` while memcached is unavailable
   * @throws StoreUnavailableError or AmbiguousCommitError when a write-through fails
   * @throws OperationAbortedError or DeadlineExceededError when it ended before writing
   */
  increment(name: string, delta = 1, options?: CallOptions): Promise<IncrementOutcome> {
    // Not async, and nothing allocated before this test: tracing off costs one property read.
    const channel = PINGPONG_CHANNELS.increment;
    if (!channel.hasSubscribers) return this.#increment(name, delta, options, undefined);
    const message = pingpongMessage('increment', name);
    return channel.tracePromise(() => this.#increment(name, delta, options, message), message);
  }

  async #increment(
    name: string,
    delta: number,
    options: CallOptions | undefined,
    trace: OperationMessage | undefined,
  ): Promise<IncrementOutcome> {
    this.#assertOpen();
    assertCounterName(name);
    assertDelta(delta, name);
    // Only a call with options or a counter with a default deadline opens a scope: the hot
    // path without them allocates nothing for it.
    const scope =
      options === undefined && this.#options.timeoutMs === undefined
        ? undefined
        : this.#scope(options, 'increment', name);
    try {
      if (delta === 0) {
        setAttribute(trace, 'shardcount.outcome', 'noop');
        return 'noop';
      }
      scope?.throwIfEnded();
      const nowMs = this.#options.now();
      const epoch = this.#schedule.epochAt(nowMs);
      setAttribute(trace, 'shardcount.epoch', epoch);
      this.#registry.note(name, epoch, nowMs);
      const key = slotKey(this.namespace, name, epoch, delta > 0 ? 'up' : 'down');
      const amount = delta > 0 ? delta : -delta;
      try {
        if (scope === undefined) await this.#options.cache.incr(key, amount, this.#slotOptions);
        else {
          const incr = () => this.#options.cache.incr(key, amount, this.#slotOptions);
          await writeWithin(incr, scope);
        }
      } catch (error) {
        if (!(error instanceof CacheUnavailableError)) throw error;
        this.#stats.cacheFailures++;
        const outcome = await this.#whenCacheUnavailable(name, delta, error, scope);
        setAttribute(trace, 'shardcount.outcome', outcome);
        return outcome;
      }
      this.#stats.cached++;
      setAttribute(trace, 'shardcount.outcome', 'cached');
      return 'cached';
    } finally {
      scope?.dispose();
    }
  }

  /**
   * The signal of one call from its options (checked here, before any I/O) and the counter's
   * default `timeoutMs`; `undefined` when there is neither a signal nor a deadline.
   */
  #scope(
    options: unknown,
    operation: string,
    counterName: string | undefined,
  ): OperationSignal | undefined {
    const context = counterName === undefined ? { operation } : { operation, counterName };
    return openScope(readCallOptions(options, context), this.#options.timeoutMs, context);
  }

  /**
   * Reads the counter: the durable count, what waits in memcache beyond the watermarks, and
   * their sum. The entity is read first, then the slots of its open epochs (one multi-get):
   * a flush committing in between moves only what the slots held before the entity's
   * watermarks, so an increment never appears twice. When memcache cannot be read,
   * `pending` is 0 and `pendingKnown` is false.
   *
   * @param name - counter name
   * @param options - `signal` and `timeoutMs` of this call
   * @throws InvalidArgumentError before any I/O for a bad name or option
   * @throws StoreUnavailableError when the durable count cannot be read
   * @throws OperationAbortedError or DeadlineExceededError when it ended first
   */
  get(name: string, options?: CallOptions): Promise<CounterValue> {
    const channel = PINGPONG_CHANNELS.get;
    if (!channel.hasSubscribers) return this.#get(name, options, undefined);
    const message = pingpongMessage('get', name);
    return channel.tracePromise(() => this.#get(name, options, message), message);
  }

  async #get(
    name: string,
    options: unknown,
    trace: OperationMessage | undefined,
  ): Promise<CounterValue> {
    this.#assertOpen();
    assertCounterName(name);
    const scope = this.#scope(options, 'get', name);
    try {
      const [value] = await this.#values([name], scope, trace);
      return value as CounterValue;
    } finally {
      scope?.dispose();
    }
  }

  /**
   * Reads many counters at once, each as {@link PingPongCounter.get} would: one batched
   * store lookup for all their entities (split only by the store's own key limit), then one
   * cache multi-get for the slots of all their open epochs. The same ordering as `get`
   * (entities first, then slots) means a flush committing in between never shows an
   * increment twice. When memcache cannot be read, every value has `pending` 0 and
   * `pendingKnown` false.
   *
   * @param names - counter names, at most {@link MAX_GET_MANY_NAMES}; duplicates allowed
   * @param options - `signal` and `timeoutMs` of this call
   * @returns one value per name, in the order of `names`
   * @throws InvalidArgumentError before any I/O when `names` is not an array of counter
   *   names, or for a bad option
   * @throws StoreUnavailableError when the durable counts cannot be read
   * @throws OperationAbortedError or DeadlineExceededError when it ended first
   */
  getMany(names: readonly string[], options?: CallOptions): Promise<CounterValue[]> {
    const channel = PINGPONG_CHANNELS.getMany;
    if (!channel.hasSubscribers) return this.#getMany(names, options, undefined);
    const message = pingpongMessage('getMany', undefined);
    return channel.tracePromise(() => this.#getMany(names, options, message), message);
  }

  async #getMany(
    names: unknown,
    options: unknown,
    trace: OperationMessage | undefined,
  ): Promise<CounterValue[]> {
    this.#assertOpen();
    const list = readCounterNameList(names, 'names', MAX_GET_MANY_NAMES);
    const scope = this.#scope(options, 'getMany', undefined);
    try {
      setAttribute(trace, 'shardcount.items', list.length);
      scope?.throwIfEnded();
      if (list.length === 0) return [];
      const unique = [...new Set(list)];
      const values = await this.#values(unique, scope, trace);
      const byName = new Map(unique.map((name, i) => [name, values[i] as CounterValue]));
      return list.map((name) => byName.get(name) as CounterValue);
    } finally {
      scope?.dispose();
    }
  }

  /** The values of distinct `names`: one store lookup, then one cache multi-get. */
  async #values(
    names: readonly string[],
    scope: OperationSignal | undefined,
    trace: OperationMessage | undefined,
  ): Promise<CounterValue[]> {
    const { store } = this.#options;
    scope?.throwIfEnded();
    const lastWritable = this.#schedule.lastWritable(this.#options.now());
    const keys = names.map((name) => counterKey(this.namespace, name));
    const stored = await store.transactionless(() => store.loadMany(keys, storeCall(scope)));
    const entities = stored.map((entity) =>
      entity === undefined ? undefined : loadedCounterEntity(entity, this.intervalMs),
    );
    const targets = names.map((name, i) => ({
      name,
      read: this.#openRange(name, entities[i], lastWritable),
    }));
    let slots: Map<string, Map<number, SlotValues>>;
    try {
      scope?.throwIfEnded();
      slots = await readWithin(this.#readSlots(targets), scope);
    } catch (error) {
      if (!(error instanceof CacheUnavailableError)) throw error;
      setAttribute(trace, 'shardcount.pending_known', false);
      return entities.map((entity) => {
        const durable = entity?.count ?? 0;
        return { durable, pending: 0, total: durable, pendingKnown: false };
      });
    }
    setAttribute(trace, 'shardcount.pending_known', true);
    if (names.length === 1 && targets[0] !== undefined) {
      const { read } = targets[0];
      setAttribute(trace, 'shardcount.epochs', Math.max(0, read.last - read.first + 1));
    }
    return entities.map((entity, i) => {
      const durable = entity?.count ?? 0;
      const pending = pendingOf(entity, slots.get(names[i] as string));
      return { durable, pending, total: durable + pending, pendingKnown: true };
    });
  }

  /**
   * Lists the counters of this namespace the registry knows, a page at a time, ordered by
   * name: one store query per page, no memcache call. A counter is known once a process
   * registered it (within `registrationDelayMs` of its first increment there) or a flush
   * created its entity; deleted and idle counters are listed, flagged. Each page is a fresh
   * query, so a counter created during a listing shows up if its name sorts after the
   * cursor; no counter shows up twice.
   *
   * @param options - `prefix` of the names, page `limit`, the previous page's `cursor`,
   *   `signal` and `timeoutMs`
   * @returns the page, and the cursor of the next one (`undefined` on the last page)
   * @throws InvalidArgumentError before any I/O for an unknown field, a bad `prefix` or
   *   `limit`, or a `cursor` that listCounters did not return
   * @throws StoreUnavailableError when the store cannot be queried
   * @throws OperationAbortedError or DeadlineExceededError when it ended first
   */
  listCounters(options?: ListCountersOptions): Promise<CounterPage> {
    const channel = PINGPONG_CHANNELS.listCounters;
    if (!channel.hasSubscribers) return this.#listCounters(options, undefined);
    const message = pingpongMessage('listCounters', undefined);
    return channel.tracePromise(() => this.#listCounters(options, message), message);
  }

  async #listCounters(options: unknown, trace: OperationMessage | undefined): Promise<CounterPage> {
    this.#assertOpen();
    const context = { operation: 'listCounters' };
    const fields = readOptions(options, 'options', [
      'prefix',
      'limit',
      'cursor',
      ...CALL_OPTION_FIELDS,
    ]);
    const { prefix, limit, after } = readListingQuery(fields);
    assertCallOptions(fields, 'options', context);
    const { store } = this.#options;
    const base = `${this.namespace}:`;
    const scope = openScope(fields, this.#options.timeoutMs, context);
    let rows: Array<QueryResult<PingPongCounterEntity>>;
    try {
      scope?.throwIfEnded();
      // One more than asked: whether it comes back says if there is a next page.
      rows = await store.query(PingPongCounterKind, {
        keyPrefix: base + prefix,
        ...(after === undefined ? {} : { startAfter: base + after }),
        limit: limit + 1,
        signal: scope?.signal,
      });
    } finally {
      scope?.dispose();
    }
    const counters = rows
      .slice(0, limit)
      .map((row) => listEntryOf(loadedCounterEntity(row.entity, this.intervalMs)));
    setAttribute(trace, 'shardcount.items', counters.length);
    const last = counters.at(-1);
    return {
      counters,
      cursor: rows.length > limit && last !== undefined ? encodeCursor(last.name) : undefined,
    };
  }

  /**
   * Drains the open epochs that ended at least `settleMs` ago into the durable counts: for
   * the counters of the namespace that are not idle (one registry query), a multi-get of
   * the slots of their open epochs only, and one transaction per counter that has something
   * to move, a loss to record, or epochs to close. Idempotent and safe to run concurrently
   * from several processes; this is what a cron endpoint or Cloud Scheduler job calls.
   * Flushes of one instance run one after another.
   *
   * Never rejects for a backend failure: failures are listed per counter in the report (the
   * store being down fails every counter; the first flush after it is back moves everything
   * still within `retentionMs`).
   *
   * Nor for an abort (`signal`, `timeoutMs`, the counter's default `timeoutMs`): the flush
   * stops between counters, what it moved stays moved, and the report says so
   * ({@link FlushReport.aborted}); every counter it did not flush is in `errors` with the
   * abort's typed error (`OperationAbortedError`, `DeadlineExceededError`), or with an
   * `AmbiguousCommitError` when the abort came while that counter's commit was in flight.
   * Either way the next flush moves exactly what is still missing. A flush queued behind
   * another of the same instance starts when that one ends; aborted while it waits, it
   * resolves at once with such a report and makes no call.
   *
   * @param options - `names` restricts the run to those counters (idle ones included);
   *   `signal` and `timeoutMs`
   * @throws InvalidArgumentError before any I/O when `options` is not an options object,
   *   has an unknown field, `names` is not an array of counter names, or for a bad
   *   `signal` or `timeoutMs`
   */
  flush(options?: FlushOptions): Promise<FlushReport> {
    const channel = PINGPONG_CHANNELS.flush;
    if (!channel.hasSubscribers) return this.#flush(options, undefined);
    const message = pingpongMessage('flush', undefined);
    return channel.tracePromise(() => this.#flush(options, message), message);
  }

  async #flush(options: unknown, trace: OperationMessage | undefined): Promise<FlushReport> {
    this.#assertOpen();
    const context = { operation: 'flush' };
    const fields = readOptions(options, 'options', ['names', ...CALL_OPTION_FIELDS]);
    const names =
      fields.names === undefined ? undefined : readCounterNames(fields.names, 'options.names');
    assertCallOptions(fields, 'options', context);
    const scope = openScope(fields, this.#options.timeoutMs, context);
    const previous = this.#flushChain;
    const flushNow = () => this.#flushNow(names, scope);
    // Queued behind another flush of this instance: an abort meanwhile ends this one at once
    // (its flushNow sees the signal and makes no call), without overtaking the running one.
    const run =
      scope === undefined
        ? previous.then(flushNow)
        : raceSignal(previous, scope.signal, context).then(flushNow, flushNow);
    this.#flushChain = Promise.allSettled([previous, run]);
    let report: FlushReport;
    try {
      report = await run;
    } finally {
      scope?.dispose();
    }
    if (trace !== undefined) {
      setAttribute(trace, 'shardcount.counters', report.counters);
      setAttribute(trace, 'shardcount.flushed', report.flushed);
      setAttribute(trace, 'shardcount.moved', report.moved);
      setAttribute(
        trace,
        'shardcount.lost_epochs',
        report.lost.reduce((sum, loss) => sum + loss.epochs.length, 0),
      );
      setAttribute(trace, 'shardcount.idled', report.idled);
      setAttribute(trace, 'shardcount.errors', report.errors.length);
      if (report.aborted !== undefined) setAttribute(trace, 'shardcount.aborted', true);
    }
    return report;
  }

  /**
   * Sets the counter to 0. What memcache holds for it when this call reads its slots is
   * discarded, and so is the durable count; an increment that reaches memcache after that
   * read counts toward the new value. An increment racing the call (sent while it runs)
   * therefore counts toward either the old value (discarded) or the new one, never both.
   * Safe against concurrent flushes: the discarded amounts become watermarks, which only
   * rise, so no flush moves them afterwards.
   *
   * With a `signal` or a deadline, an abort before the commit rejects with
   * `OperationAbortedError` (or `DeadlineExceededError`) and changes nothing; during the
   * commit with `AmbiguousCommitError`.
   *
   * @param name - counter name
   * @param options - `signal` and `timeoutMs` of this call
   * @throws InvalidArgumentError before any I/O for a bad name or option
   * @throws CacheUnavailableError when memcache cannot be read (nothing changed)
   * @throws StoreUnavailableError, ContentionError or AmbiguousCommitError from the store
   * @throws OperationAbortedError or DeadlineExceededError when it ended before the commit
   */
  reset(name: string, options?: CallOptions): Promise<void> {
    const channel = PINGPONG_CHANNELS.reset;
    if (!channel.hasSubscribers) return this.#reset(name, options);
    return channel.tracePromise(() => this.#reset(name, options), pingpongMessage('reset', name));
  }

  async #reset(name: string, options: unknown): Promise<void> {
    this.#assertOpen();
    assertCounterName(name);
    const scope = this.#scope(options, 'reset', name);
    try {
      await this.#clear(name, false, scope);
    } finally {
      scope?.dispose();
    }
  }

  /**
   * Deletes the counter: like {@link PingPongCounter.reset}, and the counter is marked
   * deleted (`get` reads 0) until it is incremented again. The entity stays, as a small
   * tombstone holding the watermarks, so counts discarded by the delete are never moved by
   * a flush; flushes stop reading it once it is idle (`retentionMs` without increments). An
   * increment racing or following the delete counts toward a counter of the same name that
   * starts again from 0.
   *
   * `signal` and `timeoutMs` work as in {@link PingPongCounter.reset}.
   *
   * @param name - counter name
   * @param options - `signal` and `timeoutMs` of this call
   * @throws InvalidArgumentError before any I/O for a bad name or option
   * @throws CacheUnavailableError when memcache cannot be read (nothing changed)
   * @throws StoreUnavailableError, ContentionError or AmbiguousCommitError from the store
   * @throws OperationAbortedError or DeadlineExceededError when it ended before the commit
   */
  delete(name: string, options?: CallOptions): Promise<void> {
    const channel = PINGPONG_CHANNELS.delete;
    if (!channel.hasSubscribers) return this.#delete(name, options);
    return channel.tracePromise(() => this.#delete(name, options), pingpongMessage('delete', name));
  }

  async #delete(name: string, options: unknown): Promise<void> {
    this.#assertOpen();
    assertCounterName(name);
    const scope = this.#scope(options, 'delete', name);
    try {
      await this.#clear(name, true, scope);
    } finally {
      scope?.dispose();
    }
    this.#registry.forget(name);
  }

  /**
   * Runs {@link PingPongCounter.flush} in this process every `everyMs` milliseconds, the
   * next run starting only when the previous one has finished. The timer does not keep the
   * process alive. Calling it again replaces the schedule.
   *
   * @param options - period and an optional report callback
   * @throws InvalidArgumentError when `everyMs` is not a whole number from 1 to 2^31 − 1 (the
   *   longest timer Node.js honours), `onReport` is not a function, or a field is unknown
   */
  startFlusher(options: FlusherOptions): void {
    this.#assertOpen();
    assertObject(options, 'options');
    const fields = readOptions(options, 'options', ['everyMs', 'onReport']);
    const { everyMs } = fields;
    assertTimerMs(everyMs, 'options.everyMs', 1);
    const onReport = fields.onReport as FlusherOptions['onReport'];
    if (onReport !== undefined) assertFunction(onReport, 'options.onReport');
    if (this.#flusher) {
      this.#flusher.stopped = true;
      clearTimeout(this.#flusher.timer);
    }
    const flusher: Flusher = { timer: undefined, running: undefined, stopped: false };
    const schedule = (): void => {
      flusher.timer = setTimeout(() => {
        flusher.timer = undefined;
        flusher.running = this.flush()
          .then((report) => onReport?.(report))
          .catch(() => undefined)
          .finally(() => {
            flusher.running = undefined;
            if (!flusher.stopped) schedule();
          });
      }, everyMs);
      flusher.timer.unref();
    };
    this.#flusher = flusher;
    schedule();
  }

  /** Stops the in-process flusher and waits for a run in progress to finish. */
  async stopFlusher(): Promise<void> {
    const flusher = this.#flusher;
    if (!flusher) return;
    this.#flusher = undefined;
    flusher.stopped = true;
    clearTimeout(flusher.timer);
    await flusher.running;
  }

  /** What this instance has done so far: routes taken by increments, losses, flushes. */
  stats(): PingPongStats {
    return {
      ...this.#stats,
      registrations: this.#registry.registered,
      registrationFailures: this.#registry.failures,
    };
  }

  /**
   * Stops the flusher and registration timers, waits for running flushes, and writes the
   * registry entries still pending (best effort). Does not close the cache or the store,
   * which the caller owns. Later calls fail with {@link CounterClosedError}.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.stopFlusher();
    await this.#flushChain;
    await this.#registry.close();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new CounterClosedError(`PingPongCounter "${this.namespace}" has been closed.`);
    }
  }

  async #whenCacheUnavailable(
    name: string,
    delta: number,
    cause: unknown,
    scope: OperationSignal | undefined,
  ): Promise<IncrementOutcome> {
    switch (this.onCacheUnavailable) {
      case 'throw':
        throw new CacheUnavailableError(
          `memcached is unavailable; increment of counter "${name}" was not recorded.`,
          { cause, context: { counterName: name } },
        );
      case 'drop':
        this.#stats.lostIncrements++;
        this.#stats.lostAmount += delta;
        this.#events.emit('dropped', { counterName: name, delta }, name);
        return 'dropped';
      case 'write-through':
        await this.#writeThrough(name, delta, scope);
        this.#stats.writtenThrough++;
        this.#events.emit('writtenThrough', { counterName: name, delta }, name);
        return 'written-through';
    }
  }

  async #writeThrough(
    name: string,
    delta: number,
    scope: OperationSignal | undefined,
  ): Promise<void> {
    const { store, now } = this.#options;
    const key = counterKey(this.namespace, name);
    await transactWithin(store, scope, async () => {
      const stored = await store.load(key);
      const nowMs = now();
      const at = new Date(nowMs);
      const entity = stored
        ? loadedCounterEntity(stored, this.intervalMs)
        : newCounterEntity(this.namespace, name, this.#schedule.epochAt(nowMs), at);
      const count = entity.count + delta;
      if (!Number.isSafeInteger(count)) {
        throw new OutOfRangeError(
          `Counter "${name}" would pass the safe integer range; the increment was not recorded.`,
          { context: { counterName: name } },
        );
      }
      await store.save(key, revised(entity, { count, deleted: false }, at));
    });
  }

  /** The counter's entity, read outside any transaction; `undefined` when it has none. */
  async #load(
    name: string,
    scope: OperationSignal | undefined,
  ): Promise<PingPongCounterEntity | undefined> {
    const { store } = this.#options;
    const key = counterKey(this.namespace, name);
    const stored = await store.transactionless(() => store.load(key, storeCall(scope)));
    return stored === undefined ? undefined : loadedCounterEntity(stored, this.intervalMs);
  }

  /**
   * The epochs of `name` to read, up to `last`: from its oldest open epoch (or an older open
   * one this process noted and has not registered yet), or, without an entity, from the
   * oldest epoch this process noted for it (else the two newest drainable ones: a name
   * nobody registered yet), at most {@link MAX_EPOCHS_PER_READ} of them.
   */
  #openRange(name: string, entity: PingPongCounterEntity | undefined, last: number): EpochRange {
    const nowMs = this.#options.now();
    const noted = this.#registry.notedEpoch(name) ?? Number.POSITIVE_INFINITY;
    let first: number;
    if (entity !== undefined) {
      // Also the older open epochs this process incremented but has not registered yet.
      first = Math.max(entity.closedBefore, Math.min(openStart(entity), noted));
    } else {
      first = Math.min(noted, this.#schedule.lastClosable(nowMs));
    }
    return { first, last: Math.min(last, first + MAX_EPOCHS_PER_READ - 1) };
  }

  /** Sets the count to 0 and discards what memcache holds now; marks it deleted or not. */
  async #clear(name: string, deleted: boolean, scope: OperationSignal | undefined): Promise<void> {
    const { store, now } = this.#options;
    const key = counterKey(this.namespace, name);
    scope?.throwIfEnded();
    const snapshot = await this.#load(name, scope);
    const read = this.#openRange(name, snapshot, this.#schedule.lastWritable(now()));
    let slots: Map<string, Map<number, SlotValues>>;
    try {
      scope?.throwIfEnded();
      slots = await readWithin(this.#readSlots([{ name, read }]), scope);
    } catch (error) {
      if (!(error instanceof CacheUnavailableError)) throw error;
      throw new CacheUnavailableError(
        `memcached is unavailable; counter "${name}" was not ${deleted ? 'deleted' : 'reset'} (its pending counts cannot be read).`,
        { cause: error, context: { counterName: name } },
      );
    }
    const observed = slots.get(name) ?? new Map<number, SlotValues>();
    await transactWithin(store, scope, async () => {
      const stored = await store.load(key);
      const at = new Date(now());
      const entity = stored
        ? loadedCounterEntity(stored, this.intervalMs)
        : newCounterEntity(this.namespace, name, read.first, at);
      await store.save(key, resetInto(entity, read, observed, deleted, at));
    });
  }

  /**
   * Registers `names`: creates the missing entities, and for existing ones brings back an
   * idle counter, reopens older epochs this process incremented, and refreshes `touchedAt`
   * when it is older than a quarter of the retention. Entities that need none of it are
   * only read.
   */
  async #register(names: readonly NotedName[]): Promise<void> {
    const { store, now } = this.#options;
    const touchEveryMs = Math.floor(this.retentionMs / 4);
    const needsWrite = (entity: PingPongCounterEntity | undefined, noted: NotedName): boolean => {
      if (entity === undefined) return true;
      const current = loadedCounterEntity(entity, this.intervalMs);
      return (
        current.idle ||
        (noted.epoch < openStart(current) && current.scanFrom > current.closedBefore) ||
        current.touchedAt + touchEveryMs <= now()
      );
    };
    const keys = names.map(({ name }) => counterKey(this.namespace, name));
    const existing = await store.transactionless(() => store.loadMany(keys));
    const todo = names.filter((noted, i) => needsWrite(existing[i], noted));
    for (let i = 0; i < todo.length; i += REGISTRATION_CHUNK) {
      const chunk = todo.slice(i, i + REGISTRATION_CHUNK);
      const chunkKeys = chunk.map(({ name }) => counterKey(this.namespace, name));
      await store.transactNew(async () => {
        const current = await store.loadMany(chunkKeys);
        const nowMs = now();
        const at = new Date(nowMs);
        const entries = chunk.flatMap((noted, j) => {
          const key = chunkKeys[j]!;
          const stored = current[j];
          if (stored === undefined) {
            return [{ key, entity: newCounterEntity(this.namespace, noted.name, noted.epoch, at) }];
          }
          if (!needsWrite(stored, noted)) return [];
          const entity = loadedCounterEntity(stored, this.intervalMs);
          return [
            {
              key,
              entity: revised(
                entity,
                {
                  idle: false,
                  scanFrom: Math.max(entity.closedBefore, Math.min(entity.scanFrom, noted.epoch)),
                  touchedAt: Math.max(entity.touchedAt, nowMs),
                },
                at,
              ),
            },
          ];
        });
        if (entries.length > 0) await store.saveMany(entries);
      });
    }
  }

  /**
   * Reads the slots of every target's epochs in as few multi-gets as the key limit allows.
   * Returns, per name, the epochs whose slots hold something. Values that are not counts
   * (someone else's data under our key) are ignored.
   */
  async #readSlots(
    targets: readonly { readonly name: string; readonly read: EpochRange }[],
  ): Promise<Map<string, Map<number, SlotValues>>> {
    const keys: string[] = [];
    for (const { name, read } of targets) {
      for (let epoch = read.first; epoch <= read.last; epoch++) {
        keys.push(slotKey(this.namespace, name, epoch, 'up'));
        keys.push(slotKey(this.namespace, name, epoch, 'down'));
      }
    }
    let found: Map<string, CacheValue>;
    if (keys.length === 0) return new Map(targets.map(({ name }) => [name, new Map()]));
    try {
      found = await this.#options.cache.getMany(keys);
    } catch (error) {
      if (error instanceof CacheUnavailableError) this.#stats.cacheFailures++;
      throw error;
    }
    const result = new Map<string, Map<number, SlotValues>>();
    for (const { name, read } of targets) {
      const perEpoch = new Map<number, SlotValues>();
      for (let epoch = read.first; epoch <= read.last; epoch++) {
        const up = asCount(found.get(slotKey(this.namespace, name, epoch, 'up')));
        const down = asCount(found.get(slotKey(this.namespace, name, epoch, 'down')));
        if (up > 0 || down > 0) perEpoch.set(epoch, { up, down });
      }
      result.set(name, perEpoch);
    }
    return result;
  }

  /** The counters a flush works on, each with the entity it read and the epochs to read. */
  async #flushTargets(
    names: readonly string[] | undefined,
    lastDrainable: number,
    errors: FlushFailure[],
    scope: OperationSignal | undefined,
  ): Promise<FlushTarget[]> {
    const { store } = this.#options;
    const snapshots = new Map<string, PingPongCounterEntity | undefined>();
    if (names !== undefined) {
      try {
        const keys = names.map((name) => counterKey(this.namespace, name));
        const found = await store.transactionless(() => store.loadMany(keys, storeCall(scope)));
        names.forEach((name, i) => {
          const stored = found[i];
          snapshots.set(name, stored && loadedCounterEntity(stored, this.intervalMs));
        });
      } catch (error) {
        for (const name of names) errors.push({ name, error: asError(error) });
        return [];
      }
    } else {
      try {
        const rows = await store.query(PingPongCounterKind, {
          filters: [
            { property: 'namespace', value: this.namespace },
            { property: 'idle', value: false },
          ],
          signal: scope?.signal,
        });
        for (const row of rows) {
          snapshots.set(row.entity.name, loadedCounterEntity(row.entity, this.intervalMs));
        }
      } catch (error) {
        errors.push({ error: asError(error) });
      }
      for (const name of this.#registry.unregistered().keys()) {
        if (!snapshots.has(name)) snapshots.set(name, undefined);
      }
    }
    const targets: FlushTarget[] = [];
    for (const [name, snapshot] of snapshots) {
      const read = this.#openRange(name, snapshot, lastDrainable);
      if (read.first <= read.last) targets.push({ name, snapshot, read });
    }
    return targets;
  }

  async #flushNow(
    names: readonly string[] | undefined,
    scope: OperationSignal | undefined,
  ): Promise<FlushReport> {
    const nowMs = this.#options.now();
    const at = new Date(nowMs);
    const lastDrainable = this.#schedule.lastDrainable(nowMs);
    const lastClosable = this.#schedule.lastClosable(nowMs);
    const errors: FlushFailure[] = [];
    /** The abort's typed error, once it has stopped part of this flush. */
    let aborted: OperationAbortedError | DeadlineExceededError | undefined;
    const fail = (name: string | undefined, error: unknown): void => {
      const reason = scope?.signal.aborted === true ? scope.signal.reason : undefined;
      if (reason !== undefined && (error === reason || (error as Error).cause === reason)) {
        aborted = reason as OperationAbortedError | DeadlineExceededError;
      }
      errors.push(name === undefined ? { error: asError(error) } : { name, error: asError(error) });
    };
    // Registering here too means a flusher process never leaves its own names pending; a
    // failure is retried by the registry and shows up below as per-counter errors anyway.
    if (scope?.signal.aborted !== true) {
      await readWithin(this.#registry.registerPending(), scope).catch(() => undefined);
    }
    const targets = await this.#flushTargets(names, lastDrainable, errors, scope);
    if (scope?.signal.aborted === true && errors.some((e) => e.error === scope.signal.reason)) {
      aborted = scope.signal.reason as OperationAbortedError | DeadlineExceededError;
    }
    const counted = names?.length ?? targets.length;
    let flushed = 0;
    let moved = 0;
    let idled = 0;
    let firstRead = Number.POSITIVE_INFINITY;
    const lost: CounterLoss[] = [];
    for (const batch of batchesByKeys(targets)) {
      let slots: Map<string, Map<number, SlotValues>>;
      try {
        // Stops between batches: what the earlier ones moved stays moved.
        scope?.throwIfEnded();
        slots = await readWithin(this.#readSlots(batch), scope);
      } catch (error) {
        for (const { name } of batch) fail(name, error);
        continue;
      }
      const work: Array<{ target: FlushTarget; input: DrainInput }> = [];
      for (const target of batch) {
        firstRead = Math.min(firstRead, target.read.first);
        const input: DrainInput = {
          read: target.read,
          observed: slots.get(target.name) ?? new Map(),
          lastClosable,
          snapshotRevision: target.snapshot?.revision,
          nowMs,
          retentionMs: this.retentionMs,
        };
        if (worthDraining(target, input, at)) work.push({ target, input });
      }
      await forEachLimited(work, this.#options.flushConcurrency, async ({ target, input }) => {
        try {
          // Stops between counters: a drain already committing finishes (or is ambiguous).
          scope?.throwIfEnded();
          const result = await this.#drain(target, input, at, scope);
          if (result.movedUp > 0 || result.movedDown > 0) {
            flushed++;
            moved += result.movedUp - result.movedDown;
          }
          const counterName = target.name;
          if (result.movedUp > 0) {
            this.#events.emit(
              'moved',
              { counterName, amount: result.movedUp },
              counterName,
              result.movedUp,
            );
          }
          if (result.movedDown > 0) {
            const amount = result.movedDown;
            this.#events.emit('movedDecrements', { counterName, amount }, counterName, amount);
          }
          if (result.becameIdle) {
            idled++;
            this.#events.emit('idled', { counterName }, counterName);
          }
          if (result.lostEpochs.length > 0) {
            const loss: CounterLoss = { name: target.name, epochs: result.lostEpochs };
            lost.push(loss);
            this.#stats.lostEpochs += result.lostEpochs.length;
            const epochs = result.lostEpochs;
            this.#events.emit('lost', { counterName, epochs }, counterName, epochs.length);
            this.#reportLoss(loss);
          }
        } catch (error) {
          fail(target.name, error);
        }
      });
    }
    this.#stats.flushes++;
    this.#stats.flushFailures += errors.length;
    for (const { name, error } of errors) {
      this.#events.emit('flushError', { counterName: name, error }, name);
    }
    this.#stats.idled += idled;
    const epochs: EpochRange = {
      first: Number.isFinite(firstRead) ? firstRead : lastDrainable + 1,
      last: lastDrainable,
    };
    const done = { counters: counted, flushed, moved, epochs, idled, lost, errors };
    const report: FlushReport = aborted === undefined ? done : { ...done, aborted };
    this.#events.emit('flushed', report, undefined);
    return report;
  }

  #reportLoss(loss: CounterLoss): void {
    try {
      this.#options.onLoss?.(loss);
    } catch {
      // A failing listener must not fail the flush, which has already committed.
    }
  }

  async #drain(
    target: FlushTarget,
    input: DrainInput,
    at: Date,
    scope: OperationSignal | undefined,
  ): Promise<DrainResult> {
    const { store } = this.#options;
    const key = counterKey(this.namespace, target.name);
    return transactWithin(store, scope, async () => {
      const stored = await store.load(key);
      const entity = stored
        ? loadedCounterEntity(stored, this.intervalMs)
        : newCounterEntity(this.namespace, target.name, input.read.first, at);
      const drained = drainInto(entity, input, at);
      // Without an entity, only something to move is worth creating one for.
      const create = stored === undefined && (drained.movedUp > 0 || drained.movedDown > 0);
      if (drained.changed && (stored !== undefined || create))
        await store.save(key, drained.entity);
      return drained;
    });
  }
}

/**
 * Whether a counter needs a transaction, judged on the entity read before the slots (a
 * stale view is safe: the transaction decides again on fresh data): something to move or a
 * loss to record, an idle mark to set, watermarks to drop, or enough epochs to close.
 */
function worthDraining(target: FlushTarget, input: DrainInput, at: Date): boolean {
  if (target.snapshot === undefined) return input.observed.size > 0;
  const preview = drainInto(target.snapshot, input, at);
  if (!preview.changed) return false;
  return (
    preview.movedUp > 0 ||
    preview.movedDown > 0 ||
    preview.lostEpochs.length > 0 ||
    preview.becameIdle ||
    preview.entity.drained.length !== target.snapshot.drained.length ||
    preview.closedEpochs >= CLOSE_EVERY_EPOCHS
  );
}

/** Splits targets into groups whose slot keys fit one multi-get. */
function* batchesByKeys(targets: readonly FlushTarget[]): Generator<FlushTarget[]> {
  let batch: FlushTarget[] = [];
  let keys = 0;
  for (const target of targets) {
    const size = 2 * (target.read.last - target.read.first + 1);
    if (batch.length > 0 && keys + size > MAX_KEYS_PER_READ) {
      yield batch;
      batch = [];
      keys = 0;
    }
    batch.push(target);
    keys += size;
  }
  if (batch.length > 0) yield batch;
}

/** What `slots` hold beyond the entity's watermarks in its open epochs (increments minus decrements). */
function pendingOf(
  entity: PingPongCounterEntity | undefined,
  slots: ReadonlyMap<number, SlotValues> | undefined,
): number {
  if (slots === undefined || slots.size === 0) return 0;
  const marks = new Map(entity?.drained.map((slot) => [slot.epoch, slot]) ?? []);
  const closedBefore = entity?.closedBefore ?? Number.NEGATIVE_INFINITY;
  let pending = 0;
  for (const [epoch, values] of slots) {
    if (epoch < closedBefore) continue;
    const mark = marks.get(epoch);
    pending += Math.max(0, values.up - (mark?.up ?? 0));
    pending -= Math.max(0, values.down - (mark?.down ?? 0));
  }
  return pending;
}

function asCount(value: CacheValue | undefined): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
