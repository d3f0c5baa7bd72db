import { LRUCache } from 'lru-cache';
import { traceBackendCall } from '../diagnostics/tracing.js';
import type { StoreCallOptions } from '../entity/entity-store.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors/index.js';
import { throwIfAborted } from '../operation/index.js';
import { assertFunction, assertInteger } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';
import {
  assertCacheKey,
  assertCacheKeys,
  assertCasToken,
  assertDelta,
  type CheckedCounterOptions,
  type CheckedWriteOptions,
  checkCallOptions,
  checkCounterOptions,
  checkWriteOptions,
  decodeCacheValue,
  encodeCacheValue,
} from './cache-arguments.js';
import type {
  CacheCounterOptions,
  CacheStore,
  CacheValue,
  CacheWriteOptions,
  CasEntry,
  CasToken,
} from './cache-store.js';
import { BACKEND_CALLS } from './cache-tracing.js';

/**
 * Largest {@link MemoryCacheStoreOptions.maxEntries}: lru-cache allocates its slots up front
 * (about 16 bytes each, ~160 MB and most of a second at this size), and larger sizes only
 * fail later, out of memory.
 */
export const MAX_MEMORY_CACHE_ENTRIES = 10_000_000;

/** Options of {@link MemoryCacheStore}. */
export interface MemoryCacheStoreOptions {
  /**
   * Most entries kept; the least recently used go first. A whole number from 1 to
   * {@link MAX_MEMORY_CACHE_ENTRIES} (10,000,000). Default 100,000.
   */
  readonly maxEntries?: number;
  /** Clock in milliseconds since the epoch, for TTLs; `Date.now` by default. Tests pass a fake. */
  readonly now?: () => number;
}

interface Item {
  readonly text: string;
  readonly cas: bigint;
  /** Milliseconds since the epoch; `undefined` = never expires. */
  readonly expiresAt: number | undefined;
}

/**
 * The embedded {@link CacheStore}: memcached's semantics (JSON values, TTLs, CAS tokens,
 * `add`, counters floored at zero) in this process, bounded by an LRU. It never fails for
 * availability reasons; wrap it in `FaultInjectingCacheStore` to test outages.
 */
export class MemoryCacheStore implements CacheStore {
  readonly #items: LRUCache<string, Item>;
  readonly #now: () => number;
  #nextCas = 1n;
  #closed = false;

  /**
   * Creates an empty cache.
   *
   * @param options - size bound and clock
   */
  constructor(options: MemoryCacheStoreOptions = {}) {
    const fields = readOptions(options, 'options', ['maxEntries', 'now']);
    const max = fields.maxEntries === undefined ? 100_000 : fields.maxEntries;
    assertInteger(max, 'options.maxEntries', { min: 1, max: MAX_MEMORY_CACHE_ENTRIES });
    const now = fields.now === undefined ? Date.now : fields.now;
    assertFunction(now, 'options.now');
    this.#items = new LRUCache({ max });
    this.#now = now as () => number;
  }

  // Each verb validates, then runs; with a subscriber on storage's backend-call channel the
  // run is traced as a call of system `memory` (checked before any closure is made).

  async get<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<V | undefined> {
    assertCacheKey(key);
    this.#checkCall('get', key, options);
    if (BACKEND_CALLS.hasSubscribers) return traced('get', undefined, () => this.#get<V>(key));
    return this.#get<V>(key);
  }

  async getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
    options?: StoreCallOptions,
  ): Promise<Map<string, V>> {
    assertCacheKeys(keys);
    this.#checkCall('getMany', undefined, options);
    if (BACKEND_CALLS.hasSubscribers) {
      return traced('mget', new Set(keys).size, () => this.#getMany<V>(keys));
    }
    return this.#getMany<V>(keys);
  }

  async gets<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<CasEntry<V> | undefined> {
    assertCacheKey(key);
    this.#checkCall('gets', key, options);
    if (BACKEND_CALLS.hasSubscribers) return traced('gets', undefined, () => this.#gets<V>(key));
    return this.#gets<V>(key);
  }

  async cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options?: CacheWriteOptions,
  ): Promise<boolean> {
    const checked = this.#checkWrite('cas', key, value, options, (checkedKey) =>
      assertCasToken(cas, checkedKey),
    );
    if (BACKEND_CALLS.hasSubscribers) {
      return traced('cas', undefined, () => this.#cas(key, cas, checked));
    }
    return this.#cas(key, cas, checked);
  }

  async add(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<boolean> {
    const checked = this.#checkWrite('add', key, value, options);
    if (BACKEND_CALLS.hasSubscribers)
      return traced('add', undefined, () => this.#add(key, checked));
    return this.#add(key, checked);
  }

  async set(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<void> {
    const { text, ttlSeconds } = this.#checkWrite('set', key, value, options);
    if (BACKEND_CALLS.hasSubscribers) {
      return traced('set', undefined, () => this.#write(key, text, ttlSeconds));
    }
    this.#write(key, text, ttlSeconds);
  }

  async incr(
    key: string,
    delta: number,
    options?: CacheCounterOptions,
  ): Promise<number | undefined> {
    const checked = this.#checkCount('incr', key, delta, options);
    if (BACKEND_CALLS.hasSubscribers) {
      return traced('incr', undefined, () => this.#count(key, delta, 1, checked));
    }
    return this.#count(key, delta, 1, checked);
  }

  async decr(
    key: string,
    delta: number,
    options?: CacheCounterOptions,
  ): Promise<number | undefined> {
    const checked = this.#checkCount('decr', key, delta, options);
    if (BACKEND_CALLS.hasSubscribers) {
      return traced('decr', undefined, () => this.#count(key, delta, -1, checked));
    }
    return this.#count(key, delta, -1, checked);
  }

  async delete(key: string, options?: StoreCallOptions): Promise<boolean> {
    assertCacheKey(key);
    this.#checkCall('delete', key, options);
    if (BACKEND_CALLS.hasSubscribers) return traced('delete', undefined, () => this.#delete(key));
    return this.#delete(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#items.clear();
  }

  #get<V extends CacheValue>(key: string): V | undefined {
    const item = this.#read(key);
    return item === undefined ? undefined : (decodeCacheValue(item.text) as V);
  }

  #getMany<V extends CacheValue>(keys: readonly string[]): Map<string, V> {
    const found = new Map<string, V>();
    for (const k of keys) {
      const item = this.#read(k);
      if (item !== undefined) found.set(k, decodeCacheValue(item.text) as V);
    }
    return found;
  }

  #gets<V extends CacheValue>(key: string): CasEntry<V> | undefined {
    const item = this.#read(key);
    if (item === undefined) return undefined;
    return { value: decodeCacheValue(item.text) as V, cas: String(item.cas) as CasToken };
  }

  #cas(
    key: string,
    cas: CasToken,
    checked: CheckedWriteOptions & { readonly text: string },
  ): boolean {
    const item = this.#read(key);
    // A token gets never returned names no version, so it never matches (as on memcached).
    if (item === undefined || String(item.cas) !== cas) return false;
    this.#write(key, checked.text, checked.ttlSeconds);
    return true;
  }

  #add(key: string, checked: CheckedWriteOptions & { readonly text: string }): boolean {
    if (this.#read(key) !== undefined) return false;
    this.#write(key, checked.text, checked.ttlSeconds);
    return true;
  }

  #delete(key: string): boolean {
    const existed = this.#read(key) !== undefined;
    this.#items.delete(key);
    return existed;
  }

  /** Validates a counter call's arguments, in the order the memcached store does. */
  #checkCount(
    operation: string,
    key: unknown,
    delta: unknown,
    options: unknown,
  ): CheckedCounterOptions {
    assertCacheKey(key);
    assertDelta(delta);
    const checked = checkCounterOptions(options);
    this.#assertOpen();
    throwIfAborted(checked.signal, { operation, key });
    return checked;
  }

  #count(
    key: string,
    delta: number,
    sign: 1 | -1,
    options: CheckedCounterOptions,
  ): number | undefined {
    const item = this.#read(key);
    let next: number;
    if (item === undefined) {
      if (options.initial === undefined) return undefined;
      next = sign > 0 ? options.initial + delta : Math.max(options.initial - delta, 0);
      this.#assertSafe(key, next);
      this.#write(key, String(next), options.ttlSeconds);
      return next;
    }
    const current = item.text.trim();
    if (!/^\d+$/.test(current)) {
      throw new InvalidArgumentError(
        `Cannot ${sign > 0 ? 'incr' : 'decr'} cache key "${key}": its value is not a non-negative integer.`,
        { context: { key, argument: 'key' } },
      );
    }
    next = sign > 0 ? Number(current) + delta : Math.max(Number(current) - delta, 0);
    this.#assertSafe(key, next);
    // A counter update keeps the entry's expiry, as memcached does.
    this.#items.set(key, { text: String(next), cas: this.#nextCas++, expiresAt: item.expiresAt });
    return next;
  }

  #assertSafe(key: string, value: number): void {
    if (!Number.isSafeInteger(value)) {
      throw new OutOfRangeError(
        `Counter at cache key "${key}" would pass Number.MAX_SAFE_INTEGER; left unchanged.`,
        { context: { key, argument: 'delta' } },
      );
    }
  }

  /** Validates a write's arguments before any change, in the order the memcached store does. */
  #checkWrite(
    operation: string,
    key: unknown,
    value: unknown,
    options: unknown,
    checkToken?: (key: string) => void,
  ): CheckedWriteOptions & { readonly text: string } {
    assertCacheKey(key);
    const checked = checkWriteOptions(options);
    const text = encodeCacheValue(key, value);
    checkToken?.(key);
    this.#assertOpen();
    throwIfAborted(checked.signal, { operation, key });
    return { ...checked, text };
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidArgumentError('This MemoryCacheStore has been closed.');
  }

  /**
   * Checks a read's or delete's options and the store, and throws the abort error when the
   * call's signal has aborted (every call here completes at once, so that is the only time
   * a signal can stop one).
   */
  #checkCall(operation: string, key: string | undefined, options: unknown): void {
    const signal = options === undefined ? undefined : checkCallOptions(options);
    this.#assertOpen();
    throwIfAborted(signal, key === undefined ? { operation } : { operation, key });
  }

  #read(key: string): Item | undefined {
    const item = this.#items.get(key);
    if (item?.expiresAt !== undefined && item.expiresAt <= this.#now()) {
      this.#items.delete(key);
      return undefined;
    }
    return item;
  }

  #write(key: string, text: string, ttlSeconds: number | undefined): void {
    const expiresAt = ttlSeconds ? this.#now() + ttlSeconds * 1000 : undefined;
    this.#items.set(key, { text, cas: this.#nextCas++, expiresAt });
  }
}

/** Runs one memory-cache call traced as a backend call of system `memory`. */
function traced<T>(operation: string, batchSize: number | undefined, run: () => T): Promise<T> {
  return traceBackendCall('memory', operation, batchSize, async () => run());
}
