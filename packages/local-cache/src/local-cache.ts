import {
  assertArray,
  assertCallOptions,
  assertFunction,
  assertOneOf,
  assertString,
  CALL_OPTION_FIELDS,
  type CacheStore,
  CacheUnavailableError,
  type CacheValue,
  type CallOptions,
  InvalidArgumentError,
  OPERATION_TRACING,
  type OperationMessage,
  type OperationSignal,
  openOperationSignal,
  operationChannel,
  readOptions,
} from '@shardcount/storage';
import { LRUCache } from 'lru-cache';
import { v4 as uuidv4 } from 'uuid';
import { type Flight, FlightTable, UNTAGGED } from './flight-table.js';
import {
  LOCAL_CACHE_EVENT_NAMES,
  type LocalCacheEventListener,
  type LocalCacheEventMap,
  LocalCacheEvents,
  type MissReason,
} from './local-cache-events.js';
import type { LocalCacheOptions } from './local-cache-options.js';
import type { LocalCacheStats } from './local-cache-stats.js';
import type { LocalEntry } from './local-entry.js';
import { type ResolvedOptions, resolveOptions } from './resolve-options.js';
import { SharedLoad } from './shared-load.js';
import type { ManyValuesProvider, ValueProvider } from './value-provider.js';

// Published on diagnostics channels (free while nobody subscribes): see @shardcount/opentelemetry.
const GET = operationChannel('local-cache', 'get');
const GET_MANY = operationChannel('local-cache', 'getMany');
const INVALIDATE = operationChannel('local-cache', 'invalidate');
const INVALIDATE_MANY = operationChannel('local-cache', 'invalidateMany');

function message(operation: string, subject: string | undefined, keys: number): OperationMessage {
  return { package: 'local-cache', operation, subject, attributes: { 'shardcount.keys': keys } };
}

/** A local entry; `checkedAt` moves forward on every matching tag read. */
interface StoredEntry<V> {
  readonly value: V;
  readonly tag: string | undefined;
  readonly loadedAt: number;
  checkedAt: number;
}

/** One key a batch load fetches, with the version it is loaded under. */
interface LoadItem {
  readonly key: string;
  readonly tag: string | undefined;
  /** Start of the tag read that produced `tag`; absent for untagged loads. */
  readonly checkedAt: number | undefined;
}

/**
 * An in-process cache that every process sharing one memcached sees invalidated.
 *
 * Each local entry remembers the version tag (a uuid) it was loaded under; the tag store
 * (memcached) holds only the current tag of each key, at `<namespace>:v:<key>`. A read is a
 * hit when the local tag equals the stored one; {@link LocalCache.invalidate} writes a fresh
 * uuid, so every process's next read of that key reloads it.
 *
 * - The tag is read before the provider is called and the value is stored under that tag,
 *   so an invalidation that completes during a load makes the next read reload.
 * - Loads are single-flight per key and tag: concurrent misses call the provider once.
 * - A missing tag (first use, eviction, expiry, memcached restart) is created with `add`,
 *   never a blind `set`, and means reload.
 * - `maxStalenessMs` trades freshness for round trips; `onCacheUnavailable` decides what a
 *   memcached outage means. `undefined` and `null` are cached like any other value.
 *
 * @typeParam V - the type of the cached values
 *
 * @example
 * ```ts
 * const cache = new LocalCache<User | null>({ cache: new MemcachedCacheStore({ servers }) });
 * const user = await cache.get(`user:${id}`, () => db.loadUser(id));
 * await db.saveUser(changed);
 * await cache.invalidate(`user:${id}`); // every process reloads on its next get
 * ```
 */
export class LocalCache<V> {
  readonly #cache: CacheStore;
  readonly #options: ResolvedOptions;
  readonly #now: () => number;
  readonly #entries: LRUCache<string, StoredEntry<V>>;
  readonly #flights = new FlightTable<V>();
  readonly #events = new LocalCacheEvents();
  /** Service-wide deadline of every call without its own `timeoutMs`. */
  readonly #timeoutMs: number | undefined;
  /** Orders reads and loads, so an untagged load is joined only by reads that began before it. */
  #seq = 0;
  #hits = 0;
  #misses = 0;
  #loads = 0;
  #staleServed = 0;
  #versionChecks = 0;
  #errors = 0;

  /**
   * @param options - the tag store and the size, staleness and outage settings
   * @throws InvalidArgumentError when an option is invalid
   */
  constructor(options: LocalCacheOptions) {
    this.#options = resolveOptions(options);
    this.#cache = this.#options.cache;
    this.#now = this.#options.now;
    this.#timeoutMs = this.#options.timeoutMs;
    const { maxEntries, ttlMs, customClock } = this.#options;
    this.#entries = new LRUCache<string, StoredEntry<V>>({
      max: maxEntries,
      ...(ttlMs === undefined ? {} : { ttl: ttlMs }),
      perf: { now: this.#now },
      // lru-cache reuses a clock reading for 1 ms of real time; a fake clock moves faster.
      ...(customClock ? { ttlResolution: 0 } : {}),
    });
  }

  /**
   * The value of `key`: the local entry when its tag equals the stored one (or it was
   * checked within `maxStalenessMs`), else the provider's value, which is then cached.
   * Concurrent reads of the same key and version share one provider call.
   *
   * @param key - non-empty string
   * @param valueProvider - loads the value from the source of truth; its error reaches every
   *   read waiting on that load and nothing is cached. It receives `{ signal }`, which aborts
   *   once every read waiting on the load has given up.
   * @param options - `signal`: give up when it aborts; `timeoutMs`: give up after this many
   *   milliseconds (default: the constructor's `timeoutMs`, else none). Giving up rejects
   *   this call only: a load it shares with other reads goes on for them.
   * @throws InvalidArgumentError when `key`, `valueProvider` or an option is invalid. A tag
   *   store outage is never thrown: it is handled by `onCacheUnavailable`.
   * @throws OperationAbortedError when `options.signal` aborts first (its reason as `cause`)
   * @throws DeadlineExceededError when the deadline passes first (`context.timeoutMs`)
   */
  get(key: string, valueProvider: ValueProvider<V>, options?: CallOptions): Promise<V> {
    if (!OPERATION_TRACING['local-cache'] || !GET.hasSubscribers) {
      return this.#getCall(key, valueProvider, options);
    }
    return GET.tracePromise(
      () => this.#getCall(key, valueProvider, options),
      message('get', key, 1),
    );
  }

  /** Without options nor a default deadline, straight to the fast path: no extra promise. */
  #getCall(key: string, valueProvider: ValueProvider<V>, options: unknown): Promise<V> {
    if (options === undefined && this.#timeoutMs === undefined) {
      return this.#get(key, valueProvider, undefined);
    }
    return this.#getWithSignal(key, valueProvider, options);
  }

  async #getWithSignal(key: string, valueProvider: ValueProvider<V>, options: unknown): Promise<V> {
    assertKey(key);
    assertFunction(valueProvider, 'valueProvider', { key });
    const op = this.#openSignal(options, 'get', key);
    try {
      return await this.#get(key, valueProvider, op);
    } finally {
      op?.dispose();
    }
  }

  async #get(
    key: string,
    valueProvider: ValueProvider<V>,
    op: OperationSignal | undefined,
  ): Promise<V> {
    assertKey(key);
    // Checked inline so a valid call allocates no error context.
    if (typeof valueProvider !== 'function') {
      assertFunction(valueProvider, 'valueProvider', { key });
    }
    op?.throwIfEnded();
    if (this.#options.maxStalenessMs > 0) {
      const recent = this.#recentEntry(key);
      if (recent !== undefined) {
        this.#hit(key);
        return recent.value;
      }
    }
    // The single-key fast path: one tag read, a comparison, the value. No provider wrapper,
    // array, Map or extra promise unless the read needs more (a load, a missing tag, a tag
    // store failure); then the general path takes over from what this read already learned.
    const readSeq = ++this.#seq;
    const checkStart = this.#now();
    this.#versionChecks += 1;
    let stored: CacheValue | undefined;
    try {
      const read = this.#cache.get(this.#tagKey(key));
      stored = await (op === undefined ? read : op.race(read));
    } catch (error) {
      this.#tagStoreFailed(error, [key]);
      return this.#getSlow(key, undefined, readSeq, checkStart, valueProvider, op);
    }
    if (stored === undefined) {
      const tags = await this.#tagsOrOutage([key], new Map(), op);
      return this.#getSlow(key, tags, readSeq, checkStart, valueProvider, op);
    }
    const tag = tagText(stored);
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.tag === tag) {
      if (entry.checkedAt < checkStart) entry.checkedAt = checkStart;
      this.#hit(key);
      return entry.value;
    }
    return this.#getSlow(key, new Map([[key, tag]]), readSeq, checkStart, valueProvider, op);
  }

  /** A single-key read that needs more than its entry: {@link #resolve} with one key. */
  async #getSlow(
    key: string,
    tags: Map<string, string> | undefined,
    readSeq: number,
    checkStart: number,
    valueProvider: ValueProvider<V>,
    op: OperationSignal | undefined,
  ): Promise<V> {
    const provider: ManyValuesProvider<V> = async (keys, context) => {
      const only = keys[0] ?? key;
      return new Map([[only, await valueProvider(only, context)]]);
    };
    const values = await this.#resolve([key], tags, readSeq, checkStart, provider, op);
    return values.get(key) as V;
  }

  /**
   * The values of `keys`, reading all their tags in one `getMany` round trip (plus `add`s
   * for tags that are missing) and loading every key that needs it with ONE provider call.
   * Keys already being loaded by another read join that load instead.
   *
   * @param keys - non-empty strings; duplicates are read once
   * @param provider - receives the keys to load and returns a `Map` from key to value; a
   *   requested key absent from the map is cached as `undefined`
   * @param options - `signal` and `timeoutMs` of this call, as for {@link get}
   * @returns a map holding every distinct key of `keys`, in order
   * @throws InvalidArgumentError when a key, the provider or an option is invalid, or the
   *   provider returns something other than a `Map`
   * @throws OperationAbortedError / DeadlineExceededError as for {@link get}
   */
  getMany(
    keys: readonly string[],
    provider: ManyValuesProvider<V>,
    options?: CallOptions,
  ): Promise<Map<string, V>> {
    if (!OPERATION_TRACING['local-cache'] || !GET_MANY.hasSubscribers)
      return this.#getMany(keys, provider, options);
    const size = Array.isArray(keys) ? keys.length : 0;
    return GET_MANY.tracePromise(
      () => this.#getMany(keys, provider, options),
      message('getMany', undefined, size),
    );
  }

  async #getMany(
    keys: readonly string[],
    provider: ManyValuesProvider<V>,
    options: unknown,
  ): Promise<Map<string, V>> {
    assertKeys(keys);
    assertFunction(provider, 'provider');
    const op = this.#openSignal(options, 'getMany', undefined);
    try {
      op?.throwIfEnded();
      return await this.#readMany(keys, provider, op);
    } finally {
      op?.dispose();
    }
  }

  async #readMany(
    keys: readonly string[],
    provider: ManyValuesProvider<V>,
    op: OperationSignal | undefined,
  ): Promise<Map<string, V>> {
    const distinct = [...new Set(keys)];
    const result = new Map<string, V>();
    const pending: string[] = [];
    for (const key of distinct) {
      const recent = this.#recentEntry(key);
      if (recent === undefined) {
        pending.push(key);
      } else {
        this.#hit(key);
        result.set(key, recent.value);
      }
    }
    if (pending.length > 0) {
      const loaded = await this.#read(pending, provider, op);
      for (const [key, value] of loaded) result.set(key, value);
    }
    // Rebuild in the caller's order (hits and loads were filled separately).
    return new Map(distinct.map((key) => [key, result.get(key) as V]));
  }

  /**
   * Makes every process reload `key` on its next check: writes a fresh version tag (an
   * unconditional `set`, the only one this class makes, because it must win over any tag)
   * and drops the local entry. Loads of `key` in progress here are not stored.
   *
   * @param key - non-empty string
   * @param options - `signal` and `timeoutMs` of this call (a default deadline comes from the
   *   constructor's `timeoutMs`)
   * @throws CacheUnavailableError when the tag could not be written: other processes may
   *   keep their copy (until its tag expires); retrying is safe
   * @throws OperationAbortedError / DeadlineExceededError when the signal aborted or the
   *   deadline passed before anything was done (the local entry is kept, no tag written)
   * @throws AmbiguousCommitError when they end while the tag write is in flight: the local
   *   entry is already dropped and the tag may or may not be written; retrying is safe
   */
  invalidate(key: string, options?: CallOptions): Promise<void> {
    if (!OPERATION_TRACING['local-cache'] || !INVALIDATE.hasSubscribers)
      return this.#invalidate(key, options);
    return INVALIDATE.tracePromise(
      () => this.#invalidate(key, options),
      message('invalidate', key, 1),
    );
  }

  async #invalidate(key: string, options: unknown): Promise<void> {
    assertKey(key);
    const op = this.#openSignal(options, 'invalidate', key);
    try {
      op?.throwIfEnded();
      await this.#publishInvalidations([key], op);
    } finally {
      op?.dispose();
    }
  }

  /**
   * {@link invalidate} for several keys; the tags are written in parallel.
   *
   * @param keys - non-empty strings; duplicates are written once
   * @param options - `signal` and `timeoutMs` of this call, as for {@link invalidate}
   * @throws CacheUnavailableError when some tags could not be written (the others were);
   *   retrying the whole call is safe
   * @throws OperationAbortedError / DeadlineExceededError / AmbiguousCommitError as for
   *   {@link invalidate}
   */
  invalidateMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    if (!OPERATION_TRACING['local-cache'] || !INVALIDATE_MANY.hasSubscribers)
      return this.#invalidateMany(keys, options);
    const size = Array.isArray(keys) ? keys.length : 0;
    return INVALIDATE_MANY.tracePromise(
      () => this.#invalidateMany(keys, options),
      message('invalidateMany', undefined, size),
    );
  }

  async #invalidateMany(keys: readonly string[], options: unknown): Promise<void> {
    assertKeys(keys);
    const op = this.#openSignal(options, 'invalidateMany', undefined);
    try {
      op?.throwIfEnded();
      if (keys.length === 0) return;
      await this.#publishInvalidations([...new Set(keys)], op);
    } finally {
      op?.dispose();
    }
  }

  /**
   * Adds a listener of one of the cache's typed events ({@link LocalCacheEventMap}): `hit`,
   * `miss`, `load`, `loadFailed`, `staleServed`, `tagStoreError`, `invalidated`. Listeners
   * run synchronously; one that throws is ignored, so it never breaks a read. Every event is
   * also published on the `shardcount:events` diagnostics channel (which
   * `@shardcount/opentelemetry` turns into counters such as `shardcount.local_cache.hit`).
   * While nobody listens, a hit builds no event at all.
   *
   * @param event - the event's name, one of {@link LOCAL_CACHE_EVENT_NAMES}
   * @param listener - called with the event's payload
   * @returns a function that removes the listener
   * @throws InvalidArgumentError for an unknown event or a listener that is not a function
   */
  on<E extends keyof LocalCacheEventMap>(
    event: E,
    listener: LocalCacheEventListener<E>,
  ): () => void {
    assertOneOf(event, 'event', LOCAL_CACHE_EVENT_NAMES);
    assertFunction(listener, 'listener');
    return this.#events.on(event, listener);
  }

  /**
   * The local entry of `key` as it is, without checking its tag, loading, or making it
   * recently used; `undefined` when there is none (a cached `undefined` value is an entry
   * whose `value` is `undefined`). The value may be stale.
   */
  peek(key: string): LocalEntry<V> | undefined {
    assertKey(key);
    const entry = this.#entries.peek(key);
    if (entry === undefined) return undefined;
    return {
      value: entry.value,
      tag: entry.tag,
      loadedAt: entry.loadedAt,
      checkedAt: entry.checkedAt,
    };
  }

  /**
   * Drops the local entry of `key` in this process only (other processes keep theirs; use
   * {@link invalidate} to reach them). Loads in progress still answer their waiting reads
   * but are not stored. Returns whether there was an entry.
   */
  delete(key: string): boolean {
    assertKey(key);
    this.#flights.discard(key);
    return this.#entries.delete(key);
  }

  /** Drops every local entry in this process only; loads in progress are not stored. */
  clear(): void {
    this.#flights.discardAll();
    this.#entries.clear();
  }

  /** Number of local entries (expired ones may count until they are next touched). */
  get size(): number {
    return this.#entries.size;
  }

  /** Counters since creation; see {@link LocalCacheStats}. */
  stats(): LocalCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      loads: this.#loads,
      staleServed: this.#staleServed,
      versionChecks: this.#versionChecks,
      errors: this.#errors,
    };
  }

  /** The entry of `key` when it was checked within `maxStalenessMs`: served with no round trip. */
  #recentEntry(key: string): StoredEntry<V> | undefined {
    if (this.#options.maxStalenessMs <= 0) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    return this.#now() - entry.checkedAt < this.#options.maxStalenessMs ? entry : undefined;
  }

  /** Checks the tags of `keys` and answers each from its entry, a load in progress, or a new load. */
  async #read(
    keys: readonly string[],
    provider: ManyValuesProvider<V>,
    op: OperationSignal | undefined,
  ): Promise<Map<string, V>> {
    const readSeq = ++this.#seq;
    const checkStart = this.#now();
    const tags = await this.#tagsOrOutage(keys, undefined, op);
    return this.#resolve(keys, tags, readSeq, checkStart, provider, op);
  }

  /**
   * The current tags of `keys` (completing `found`, the tags already read, when given), or
   * `undefined` when the tag store is unavailable.
   */
  async #tagsOrOutage(
    keys: readonly string[],
    found: Map<string, string> | undefined,
    op: OperationSignal | undefined,
  ): Promise<Map<string, string> | undefined> {
    try {
      return await this.#currentTags(keys, found ?? (await this.#readTags(keys, op)), op);
    } catch (error) {
      this.#tagStoreFailed(error, keys);
      return undefined;
    }
  }

  /**
   * Counts a tag store outage met by a read of `keys`; any other error (an abort, a deadline,
   * a bug) is rethrown.
   */
  #tagStoreFailed(error: unknown, keys: readonly string[]): void {
    if (!isCacheUnavailable(error)) throw error;
    this.#errors += 1;
    this.#events.emit(
      'tagStoreError',
      { operation: 'read', keys, error: error as Error },
      undefined,
    );
  }

  /** Counts a hit; the event's payload is built only when someone listens. */
  #hit(key: string): void {
    this.#hits += 1;
    if (this.#events.active) this.#events.emit('hit', { key }, key);
  }

  /** Counts a miss and reports why. */
  #miss(key: string, reason: MissReason, joined: boolean): void {
    this.#misses += 1;
    if (this.#events.active) this.#events.emit('miss', { key, reason, joined }, key);
  }

  /** Reads and checks the `signal`/`timeoutMs` options of one call. */
  #openSignal(
    options: unknown,
    operation: string,
    key: string | undefined,
  ): OperationSignal | undefined {
    if (options === undefined && this.#timeoutMs === undefined) return undefined;
    const context = key === undefined ? { operation } : { operation, key };
    const fields = readOptions(options, 'options', CALL_OPTION_FIELDS, context);
    assertCallOptions(fields, 'options', context);
    return openOperationSignal(fields, this.#timeoutMs, context);
  }

  /** `promise`, or rejects with the typed error as soon as the call's signal ends. */
  #race<T>(promise: Promise<T>, op: OperationSignal | undefined): Promise<T> {
    return op === undefined ? promise : op.race(promise);
  }

  /**
   * Answers each of `keys` from its entry, a load in progress, or a new load, given their
   * current `tags` (`undefined`: the tag store is down) read from `checkStart` on by the
   * read numbered `readSeq`.
   */
  async #resolve(
    keys: readonly string[],
    tags: Map<string, string> | undefined,
    readSeq: number,
    checkStart: number,
    provider: ManyValuesProvider<V>,
    op: OperationSignal | undefined,
  ): Promise<Map<string, V>> {
    const answers = new Map<string, V | Promise<V>>();
    const toLoad: LoadItem[] = [];
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (tags === undefined) {
        // The tag store is down: no entry can be verified.
        if (
          this.#options.onCacheUnavailable === 'serve-stale' &&
          entry !== undefined &&
          this.#now() - entry.checkedAt <= this.#options.graceMs
        ) {
          this.#staleServed += 1;
          if (this.#events.active) {
            const sinceCheckMs = this.#now() - entry.checkedAt;
            this.#events.emit('staleServed', { key, sinceCheckMs }, key);
          }
          answers.set(key, entry.value);
          continue;
        }
        // Only a load that began after this read did is as fresh as this read needs.
        const found = this.#flights.find(key, UNTAGGED);
        const flight = found !== undefined && found.seq > readSeq ? found : undefined;
        this.#miss(key, 'unavailable', flight !== undefined);
        if (flight !== undefined) answers.set(key, this.#waitFor(flight, op));
        else toLoad.push({ key, tag: undefined, checkedAt: undefined });
        continue;
      }
      const tag = tags.get(key) as string;
      if (entry !== undefined && entry.tag === tag) {
        if (entry.checkedAt < checkStart) entry.checkedAt = checkStart;
        this.#hit(key);
        answers.set(key, entry.value);
        continue;
      }
      // A load under the tag this read saw began after that tag was written, so after any
      // invalidation this read must reflect: joining it is safe.
      const flight = this.#flights.find(key, tag);
      this.#miss(key, entry === undefined ? 'absent' : 'changed', flight !== undefined);
      if (flight !== undefined) answers.set(key, this.#waitFor(flight, op));
      else toLoad.push({ key, tag, checkedAt: checkStart });
    }
    if (toLoad.length > 0) {
      for (const [key, flight] of this.#load(toLoad, provider)) {
        answers.set(key, this.#waitFor(flight, op));
      }
    }
    const values = await Promise.all(keys.map((key) => answers.get(key)));
    return new Map(keys.map((key, i) => [key, values[i] as V]));
  }

  /**
   * Starts one provider call for `items` and registers a flight per key, so concurrent reads
   * of the same key and tag join it. Results are stored unless the key was invalidated or
   * dropped meanwhile, or a newer-checked entry is already there.
   */
  #load(items: readonly LoadItem[], provider: ManyValuesProvider<V>): Map<string, Flight<V>> {
    const seq = ++this.#seq;
    const loadedAt = this.#now();
    const keys = items.map((item) => item.key);
    this.#loads += 1;
    this.#events.emit('load', { keys }, undefined);
    const pending: { item: LoadItem; flight: Flight<V>; settle: Deferred<V> }[] = [];
    // Nobody waits any more: new reads must not join a load its provider was told to stop.
    const load = new SharedLoad(() => {
      for (const { item, flight } of pending) {
        this.#flights.remove(item.key, item.tag ?? UNTAGGED, flight);
      }
    });
    for (const item of items) {
      const settle = deferred<V>();
      const flight: Flight<V> = { promise: settle.promise, load, seq, discarded: false };
      // Every flight is awaited by its creator; this only keeps a rejection nobody waits
      // for any more (all waiters gave up) from being reported as unhandled.
      flight.promise.catch(() => {});
      this.#flights.add(item.key, item.tag ?? UNTAGGED, flight);
      pending.push({ item, flight, settle });
    }
    (async () => provider(keys, load.context))()
      .then((found) => {
        load.settle();
        if (!(found instanceof Map)) {
          throw new InvalidArgumentError('A getMany provider must return a Map of key to value.', {
            context: { argument: 'provider' },
          });
        }
        for (const { item, flight, settle } of pending) {
          const value = found.get(item.key) as V;
          this.#flights.remove(item.key, item.tag ?? UNTAGGED, flight);
          if (!flight.discarded) {
            this.#store(item.key, {
              value,
              tag: item.tag,
              loadedAt,
              // An untagged value is as fresh as the source was when the provider ran.
              checkedAt: item.checkedAt ?? loadedAt,
            });
          }
          settle.resolve(value);
        }
      })
      .catch((error: unknown) => {
        load.settle();
        this.#events.emit('loadFailed', { keys, error }, undefined);
        for (const { item, flight, settle } of pending) {
          this.#flights.remove(item.key, item.tag ?? UNTAGGED, flight);
          settle.reject(error);
        }
      });
    return new Map(pending.map(({ item, flight }) => [item.key, flight]));
  }

  /**
   * The value of `flight` for one read. A read with a signal gives up on its own when that
   * ends (rejecting with the typed error) while the load goes on for the others; the load's
   * provider signal aborts only when every waiter has given up.
   */
  #waitFor(flight: Flight<V>, op: OperationSignal | undefined): Promise<V> {
    const { load } = flight;
    load.join();
    if (op === undefined) return flight.promise;
    const giveUp = (): Error => {
      const reason = op.reason!;
      load.leave(reason);
      return reason;
    };
    if (op.ended) return Promise.reject(giveUp());
    return new Promise<V>((resolve, reject) => {
      const stopWaiting = op.onEnd(() => reject(giveUp()));
      flight.promise.then(
        (value) => {
          stopWaiting();
          resolve(value);
        },
        (error: unknown) => {
          stopWaiting();
          reject(error);
        },
      );
    });
  }

  /** Stores a loaded entry unless the one there was checked more recently. */
  #store(key: string, entry: StoredEntry<V>): void {
    const existing = this.#entries.peek(key);
    if (existing !== undefined && existing.checkedAt > entry.checkedAt) return;
    this.#entries.set(key, entry);
  }

  /**
   * The current tag of each key given those `found` by one read for all: `add` of a fresh uuid for each
   * missing tag. An `add` that loses means another process created the tag first: read it.
   * A tag that vanished again gets the uuid this process tried, which matches no stored tag,
   * so the entry is simply reloaded next time.
   */
  async #currentTags(
    keys: readonly string[],
    found: Map<string, string>,
    op: OperationSignal | undefined,
  ): Promise<Map<string, string>> {
    const missing = keys.filter((key) => !found.has(key));
    if (missing.length === 0) return found;
    const proposed = new Map(missing.map((key) => [key, uuidv4()]));
    const ttlSeconds = this.#options.versionTtlSeconds;
    const added = await this.#race(
      Promise.all(
        missing.map((key) =>
          this.#cache.add(this.#tagKey(key), proposed.get(key) as string, { ttlSeconds }),
        ),
      ),
      op,
    );
    const lost = missing.filter((_, i) => !added[i]);
    for (const key of missing) if (!lost.includes(key)) found.set(key, proposed.get(key) as string);
    if (lost.length > 0) {
      const reread = await this.#readTags(lost, op);
      for (const key of lost) found.set(key, reread.get(key) ?? (proposed.get(key) as string));
    }
    return found;
  }

  /** Reads the stored tags of `keys` in one round trip; missing tags are absent. */
  async #readTags(
    keys: readonly string[],
    op: OperationSignal | undefined,
  ): Promise<Map<string, string>> {
    this.#versionChecks += 1;
    const tags = new Map<string, string>();
    if (keys.length === 1) {
      const key = keys[0] as string;
      const value = await this.#race(this.#cache.get(this.#tagKey(key)), op);
      if (value !== undefined) tags.set(key, tagText(value));
      return tags;
    }
    const values = await this.#race(this.#cache.getMany(keys.map((key) => this.#tagKey(key))), op);
    for (const key of keys) {
      const value = values.get(this.#tagKey(key));
      if (value !== undefined) tags.set(key, tagText(value));
    }
    return tags;
  }

  async #publishInvalidations(
    keys: readonly string[],
    op: OperationSignal | undefined,
  ): Promise<void> {
    // Drop local state first, so this process never serves the old value again, even within
    // maxStalenessMs, and no load begun before the invalidation stores its result.
    for (const key of keys) {
      this.#flights.discard(key);
      this.#entries.delete(key);
    }
    const ttlSeconds = this.#options.versionTtlSeconds;
    // Accounted for when the writes settle, even if the caller has given up by then.
    const written = Promise.allSettled(
      keys.map((key) => this.#cache.set(this.#tagKey(key), uuidv4(), { ttlSeconds })),
    ).then((outcomes) => this.#invalidationOutcome(keys, outcomes));
    const failure = op === undefined ? await written : await op.raceCommit(written);
    if (failure !== undefined) throw failure;
  }

  /** Counts and reports the writes of one invalidation; returns the error to throw, if any. */
  #invalidationOutcome(
    keys: readonly string[],
    outcomes: readonly PromiseSettledResult<void>[],
  ): unknown {
    const done: string[] = [];
    const unavailableKeys: string[] = [];
    const failures: unknown[] = [];
    outcomes.forEach((outcome, i) => {
      const key = keys[i] as string;
      if (outcome.status === 'fulfilled') {
        done.push(key);
        return;
      }
      failures.push(outcome.reason);
      if (isCacheUnavailable(outcome.reason)) unavailableKeys.push(key);
    });
    if (done.length > 0) {
      const subject = done.length === 1 ? done[0] : undefined;
      this.#events.emit('invalidated', { keys: done }, subject, done.length);
    }
    if (failures.length === 0) return undefined;
    const unavailable = unavailableKeys.length;
    this.#errors += unavailable;
    if (unavailable > 0) {
      const error = failures.find(isCacheUnavailable) as Error;
      this.#events.emit(
        'tagStoreError',
        { operation: 'invalidate', keys: unavailableKeys, error },
        undefined,
        unavailable,
      );
    }
    const first = failures[0];
    if (keys.length === 1 || unavailable < failures.length) return first;
    return new CacheUnavailableError(
      `Could not invalidate ${failures.length} of ${keys.length} keys: the tag store is unavailable.`,
      {
        cause: first,
        context: {
          namespace: this.#options.namespace,
          failed: failures.length,
          total: keys.length,
        },
      },
    );
  }

  #tagKey(key: string): string {
    return `${this.#options.namespace}:v:${key}`;
  }
}

/** Keys are non-empty, well-formed strings, as in every `CacheStore`. */
function assertKey(key: unknown, argument = 'key'): asserts key is string {
  assertString(key, argument);
}

function assertKeys(keys: unknown): asserts keys is readonly string[] {
  assertArray(keys, 'keys');
  for (let i = 0; i < keys.length; i += 1) assertKey(keys[i], `keys[${i}]`);
}

/** By code rather than class, so an adapter built against another copy of storage still counts. */
function isCacheUnavailable(error: unknown): boolean {
  return (
    error instanceof Error && (error as { code?: unknown }).code === CacheUnavailableError.code
  );
}

/** Tags are uuid strings; anything else someone wrote there is compared by its JSON text. */
function tagText(value: CacheValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** `Promise.withResolvers`, which Node 20 lacks. */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
