import {
  CacheUnavailableError,
  type CacheValue,
  describeValue,
  InvalidArgumentError,
  OutOfRangeError,
} from '@shardcount/storage';
import {
  counterKey,
  type DrainResult,
  drainInto,
  loadedCounterEntity,
  newCounterEntity,
  type PingPongCounterEntity,
  PingPongCounterKind,
  type SlotValues,
} from './counter-entity.js';
import type { CounterValue, IncrementOutcome, PingPongStats } from './counter-value.js';
import { EpochSchedule, epochsOf } from './epoch-schedule.js';
import { CounterClosedError } from './errors/counter-closed-error.js';
import type { FlusherOptions, FlushFailure, FlushOptions, FlushReport } from './flush-report.js';
import { forEachLimited } from './map-limit.js';
import { NameRegistry } from './name-registry.js';
import {
  type CacheUnavailablePolicy,
  integerOption,
  type PingPongCounterOptions,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { type SlotDirection, slotKey } from './slot-keys.js';
import { assertCounterName, assertDelta } from './validation.js';

/** Counters whose slots one flush reads in one cache round trip. */
const FLUSH_BATCH = 100;

/** Entities created in one registration transaction (legacy Datastore allows 25 groups). */
const REGISTRATION_CHUNK = 25;

interface Flusher {
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  stopped: boolean;
}

/**
 * A cheap, buffered counter: increments cost one memcached round trip and never touch the
 * datastore; a flusher moves settled amounts into a durable count, exactly once.
 *
 * Time is cut into epochs of `intervalMs`. An increment adds to the slot of the current
 * epoch (`incr` with an initial value: the slot is created atomically on the server, so
 * no two processes can race to create it). A flush drains epochs that have ended: in one
 * transaction per counter it adds to the durable count what each slot holds beyond the
 * watermark stored for that epoch, and raises the watermark. Running it twice, from two
 * processes at once, or again after a crash therefore moves nothing twice, and an
 * increment that lands in a slot after it was drained is moved by the next flush.
 * Slots are never deleted; they expire after `slotTtlIntervals` intervals.
 *
 * The only loss is memcache losing a slot before its flush (eviction, restart): at most
 * the increments of that one epoch that were not yet flushed. See the package README.
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
  /** TTL of every slot, in whole seconds. */
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
  };
  #flushChain: Promise<unknown> = Promise.resolve();
  #flusher: Flusher | undefined;
  #closed = false;

  /**
   * Checks every option before any I/O.
   *
   * @param options - cache, store, interval and policies; see {@link PingPongCounterOptions}
   * @throws InvalidArgumentError for a missing cache or store, `intervalMs` below 1000, or
   *   any other invalid option
   */
  constructor(options: PingPongCounterOptions) {
    this.#options = resolveOptions(options);
    this.intervalMs = this.#options.intervalMs;
    this.namespace = this.#options.namespace;
    this.slotTtlSeconds = this.#options.slotTtlSeconds;
    this.onCacheUnavailable = this.#options.onCacheUnavailable;
    this.#schedule = new EpochSchedule(
      this.#options.intervalMs,
      this.#options.slotTtlSeconds,
      this.#options.settleMs,
    );
    this.#registry = new NameRegistry(
      (names) => this.#register(names),
      this.#options.registrationDelayMs,
      this.#options.maxRememberedNames,
    );
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
   * @param name - counter name: non-blank, at most 500 UTF-8 bytes
   * @param delta - a safe integer; default 1
   * @returns how the increment was recorded
   * @throws InvalidArgumentError before any I/O for a bad name or delta
   * @throws CacheUnavailableError with policy `'throw'` while memcached is unavailable
   * @throws StoreUnavailableError or AmbiguousCommitError when a write-through fails
   */
  async increment(name: string, delta = 1): Promise<IncrementOutcome> {
    this.#assertOpen();
    assertCounterName(name);
    assertDelta(delta, name);
    if (delta === 0) return 'noop';
    this.#registry.note(name);
    const epoch = this.#schedule.epochAt(this.#options.now());
    const key = slotKey(this.namespace, name, epoch, delta > 0 ? 'up' : 'down');
    try {
      await this.#options.cache.incr(key, Math.abs(delta), {
        initial: 0,
        ttlSeconds: this.slotTtlSeconds,
      });
    } catch (error) {
      if (!(error instanceof CacheUnavailableError)) throw error;
      this.#stats.cacheFailures++;
      return this.#whenCacheUnavailable(name, delta, error);
    }
    this.#stats.cached++;
    return 'cached';
  }

  /**
   * Reads the counter: the durable count, what waits in memcache beyond the watermarks, and
   * their sum. Two reads in parallel (one entity lookup, one multi-get of the live slots);
   * the count and watermarks are read together, so a flush running at the same time never
   * makes an increment appear twice. When memcache cannot be read, `pending` is 0 and
   * `pendingKnown` is false.
   *
   * @param name - counter name
   * @throws InvalidArgumentError before any I/O for a bad name
   * @throws StoreUnavailableError when the durable count cannot be read
   */
  async get(name: string): Promise<CounterValue> {
    this.#assertOpen();
    assertCounterName(name);
    const key = counterKey(this.namespace, name);
    const epochs = epochsOf(this.#schedule.liveEpochs(this.#options.now()));
    const { store } = this.#options;
    const [stored, slots] = await Promise.all([
      store.transactionless(() => store.load(key)),
      this.#readSlots([name], epochs).catch((error: unknown) => {
        if (error instanceof CacheUnavailableError) return undefined;
        throw error;
      }),
    ]);
    const entity = stored === undefined ? undefined : loadedCounterEntity(stored);
    const durable = entity?.count ?? 0;
    if (slots === undefined) return { durable, pending: 0, total: durable, pendingKnown: false };
    const marks = new Map(entity?.drained.map((slot) => [slot.epoch, slot]) ?? []);
    let pending = 0;
    for (const [epoch, values] of slots.get(name) ?? []) {
      const mark = marks.get(epoch);
      pending += Math.max(0, values.up - (mark?.up ?? 0));
      pending -= Math.max(0, values.down - (mark?.down ?? 0));
    }
    return { durable, pending, total: durable + pending, pendingKnown: true };
  }

  /**
   * Drains every ended epoch into the durable counts: for each counter, one multi-get of
   * its slots and, when a slot holds more than its watermark, one transaction that adds the
   * difference and raises the watermark. Idempotent and safe to run concurrently from
   * several processes; this is what a cron endpoint or Cloud Scheduler job calls. Flushes of
   * one instance run one after another.
   *
   * Never rejects for a backend failure: failures are listed per counter in the report (the
   * store being down fails every counter; the next flush moves everything).
   *
   * @param options - `names` restricts the run to those counters
   * @throws InvalidArgumentError before any I/O when `names` holds a bad name
   */
  async flush(options: FlushOptions = {}): Promise<FlushReport> {
    this.#assertOpen();
    let names: string[] | undefined;
    if (options.names !== undefined) {
      if (!Array.isArray(options.names)) {
        throw new InvalidArgumentError(
          `names must be an array, got ${describeValue(options.names)}.`,
        );
      }
      for (const name of options.names) assertCounterName(name);
      names = [...new Set(options.names)];
    }
    const run = this.#flushChain.then(() => this.#flushNow(names));
    this.#flushChain = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs {@link PingPongCounter.flush} in this process every `everyMs` milliseconds, the
   * next run starting only when the previous one has finished. The timer does not keep the
   * process alive. Calling it again replaces the schedule.
   *
   * @param options - period and an optional report callback
   * @throws InvalidArgumentError when `everyMs` is not a whole number of at least 1
   */
  startFlusher(options: FlusherOptions): void {
    this.#assertOpen();
    if (typeof options !== 'object' || options === null || options.everyMs === undefined) {
      throw new InvalidArgumentError('startFlusher needs { everyMs }.');
    }
    const everyMs = integerOption('everyMs', options.everyMs, 0, 1);
    const { onReport } = options;
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
        return 'dropped';
      case 'write-through':
        await this.#writeThrough(name, delta);
        this.#stats.writtenThrough++;
        return 'written-through';
    }
  }

  async #writeThrough(name: string, delta: number): Promise<void> {
    const { store, now } = this.#options;
    const key = counterKey(this.namespace, name);
    await store.transactNew(async () => {
      const stored = await store.load(key);
      const at = new Date(now());
      const entity = stored
        ? loadedCounterEntity(stored)
        : newCounterEntity(this.namespace, name, at);
      const count = entity.count + delta;
      if (!Number.isSafeInteger(count)) {
        throw new OutOfRangeError(
          `Counter "${name}" would pass the safe integer range; the increment was not recorded.`,
          { context: { counterName: name } },
        );
      }
      await store.save(key, { ...entity, count, updatedAt: at });
    });
    this.#registry.remember(name);
  }

  /** Creates the missing entities of `names` (count 0), never touching existing ones. */
  async #register(names: readonly string[]): Promise<void> {
    const { store, now } = this.#options;
    const keys = names.map((name) => counterKey(this.namespace, name));
    const existing = await store.transactionless(() => store.loadMany(keys));
    const missing = names.filter((_, i) => existing[i] === undefined);
    for (let i = 0; i < missing.length; i += REGISTRATION_CHUNK) {
      const chunk = missing.slice(i, i + REGISTRATION_CHUNK);
      const chunkKeys = chunk.map((name) => counterKey(this.namespace, name));
      await store.transactNew(async () => {
        const current = await store.loadMany(chunkKeys);
        const at = new Date(now());
        const entries = chunk.flatMap((name, j) =>
          current[j] === undefined
            ? [{ key: chunkKeys[j]!, entity: newCounterEntity(this.namespace, name, at) }]
            : [],
        );
        if (entries.length > 0) await store.saveMany(entries);
      });
    }
  }

  /**
   * Reads the slots of `names` for `epochs` in one multi-get. Returns, per name, the epochs
   * whose slots hold something. Values that are not counts (someone else's data under our
   * key) are ignored.
   */
  async #readSlots(
    names: readonly string[],
    epochs: readonly number[],
  ): Promise<Map<string, Map<number, SlotValues>>> {
    const keys: string[] = [];
    const directions: SlotDirection[] = ['up', 'down'];
    for (const name of names) {
      for (const epoch of epochs) {
        for (const direction of directions)
          keys.push(slotKey(this.namespace, name, epoch, direction));
      }
    }
    let found: Map<string, CacheValue>;
    try {
      found = await this.#options.cache.getMany(keys);
    } catch (error) {
      if (error instanceof CacheUnavailableError) this.#stats.cacheFailures++;
      throw error;
    }
    const result = new Map<string, Map<number, SlotValues>>();
    for (const name of names) {
      const perEpoch = new Map<number, SlotValues>();
      for (const epoch of epochs) {
        const up = asCount(found.get(slotKey(this.namespace, name, epoch, 'up')));
        const down = asCount(found.get(slotKey(this.namespace, name, epoch, 'down')));
        if (up > 0 || down > 0) perEpoch.set(epoch, { up, down });
      }
      result.set(name, perEpoch);
    }
    return result;
  }

  async #flushNow(names: readonly string[] | undefined): Promise<FlushReport> {
    const nowMs = this.#options.now();
    const at = new Date(nowMs);
    const range = this.#schedule.drainableEpochs(nowMs);
    const epochs = epochsOf(range);
    const errors: FlushFailure[] = [];
    // Registering here too means a flusher process never leaves its own names pending; a
    // failure is retried by the registry and shows up below as per-counter errors anyway.
    await this.#registry.registerPending().catch(() => undefined);
    const snapshots = new Map<string, PingPongCounterEntity>();
    let targets: readonly string[];
    if (names !== undefined) {
      targets = names;
    } else {
      try {
        const rows = await this.#options.store.query(PingPongCounterKind, {
          filters: [{ property: 'namespace', value: this.namespace }],
        });
        for (const row of rows) snapshots.set(row.entity.name, loadedCounterEntity(row.entity));
      } catch (error) {
        errors.push({ error: asError(error) });
      }
      targets = [...new Set([...snapshots.keys(), ...this.#registry.unregistered()])];
    }
    let flushed = 0;
    let moved = 0;
    for (let i = 0; i < targets.length && epochs.length > 0; i += FLUSH_BATCH) {
      const batch = targets.slice(i, i + FLUSH_BATCH);
      let slots: Map<string, Map<number, SlotValues>>;
      try {
        slots = await this.#readSlots(batch, epochs);
      } catch (error) {
        for (const name of batch) errors.push({ name, error: asError(error) });
        continue;
      }
      const work = batch.filter((name) => hasUndrained(slots.get(name), snapshots.get(name)));
      await forEachLimited(work, this.#options.flushConcurrency, async (name) => {
        try {
          const result = await this.#drain(name, slots.get(name) ?? new Map(), range.first, at);
          if (result.movedUp > 0 || result.movedDown > 0) {
            flushed++;
            moved += result.movedUp - result.movedDown;
          }
        } catch (error) {
          errors.push({ name, error: asError(error) });
        }
      });
    }
    this.#stats.flushes++;
    this.#stats.flushFailures += errors.length;
    return { counters: targets.length, flushed, moved, epochs: range, errors };
  }

  async #drain(
    name: string,
    observed: ReadonlyMap<number, SlotValues>,
    firstLiveEpoch: number,
    at: Date,
  ): Promise<DrainResult> {
    const { store } = this.#options;
    const key = counterKey(this.namespace, name);
    const result = await store.transactNew(async () => {
      const stored = await store.load(key);
      const entity = stored
        ? loadedCounterEntity(stored)
        : newCounterEntity(this.namespace, name, at);
      const drained = drainInto(entity, observed, firstLiveEpoch, at);
      if (drained.changed) await store.save(key, drained.entity);
      return drained;
    });
    if (result.changed) this.#registry.remember(name);
    return result;
  }
}

/** Whether any slot holds more than the (possibly stale) watermark of a query snapshot. */
function hasUndrained(
  slots: ReadonlyMap<number, SlotValues> | undefined,
  snapshot: PingPongCounterEntity | undefined,
): boolean {
  if (!slots || slots.size === 0) return false;
  // Watermarks only rise (until pruned, which happens only to expired slots), so a slot at
  // or below a stale watermark is at or below the current one: skipping it is safe.
  const marks = new Map(snapshot?.drained.map((slot) => [slot.epoch, slot]) ?? []);
  for (const [epoch, values] of slots) {
    const mark = marks.get(epoch);
    if (values.up > (mark?.up ?? 0) || values.down > (mark?.down ?? 0)) return true;
  }
  return false;
}

function asCount(value: CacheValue | undefined): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
