import { LRUCache } from 'lru-cache';
import { InvalidArgumentError, OutOfRangeError } from '../errors/index.js';
import {
  assertCacheKey,
  assertDelta,
  assertTtl,
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

/** Options of {@link MemoryCacheStore}. */
export interface MemoryCacheStoreOptions {
  /** Most entries kept; the least recently used go first. Default 100,000. */
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
    const max = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new InvalidArgumentError(`maxEntries must be a positive integer, got ${max}.`);
    }
    this.#items = new LRUCache({ max });
    this.#now = options.now ?? Date.now;
  }

  async get<V extends CacheValue = CacheValue>(key: string): Promise<V | undefined> {
    assertCacheKey(key);
    const item = this.#read(key);
    return item === undefined ? undefined : (decodeCacheValue(item.text) as V);
  }

  async getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
  ): Promise<Map<string, V>> {
    for (const k of keys) assertCacheKey(k);
    const found = new Map<string, V>();
    for (const k of keys) {
      const item = this.#read(k);
      if (item !== undefined) found.set(k, decodeCacheValue(item.text) as V);
    }
    return found;
  }

  async gets<V extends CacheValue = CacheValue>(key: string): Promise<CasEntry<V> | undefined> {
    assertCacheKey(key);
    const item = this.#read(key);
    if (item === undefined) return undefined;
    return { value: decodeCacheValue(item.text) as V, cas: String(item.cas) as CasToken };
  }

  async cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options: CacheWriteOptions = {},
  ): Promise<boolean> {
    const text = this.#checkWrite(key, value, options);
    const item = this.#read(key);
    if (item === undefined || String(item.cas) !== cas) return false;
    this.#write(key, text, options.ttlSeconds);
    return true;
  }

  async add(key: string, value: CacheValue, options: CacheWriteOptions = {}): Promise<boolean> {
    const text = this.#checkWrite(key, value, options);
    if (this.#read(key) !== undefined) return false;
    this.#write(key, text, options.ttlSeconds);
    return true;
  }

  async set(key: string, value: CacheValue, options: CacheWriteOptions = {}): Promise<void> {
    const text = this.#checkWrite(key, value, options);
    this.#write(key, text, options.ttlSeconds);
  }

  incr(key: string, delta: number, options: CacheCounterOptions = {}): Promise<number | undefined> {
    return this.#count(key, delta, 1, options);
  }

  decr(key: string, delta: number, options: CacheCounterOptions = {}): Promise<number | undefined> {
    return this.#count(key, delta, -1, options);
  }

  async delete(key: string): Promise<boolean> {
    assertCacheKey(key);
    const existed = this.#read(key) !== undefined;
    this.#items.delete(key);
    return existed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#items.clear();
  }

  async #count(
    key: string,
    delta: number,
    sign: 1 | -1,
    options: CacheCounterOptions,
  ): Promise<number | undefined> {
    assertCacheKey(key);
    assertDelta(delta);
    assertTtl(options.ttlSeconds);
    if (options.initial !== undefined) assertDelta(options.initial, 'initial');
    this.#assertOpen();
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
        { context: { key } },
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
        { context: { key } },
      );
    }
  }

  #checkWrite(key: string, value: CacheValue, options: CacheWriteOptions): string {
    assertCacheKey(key);
    assertTtl(options.ttlSeconds);
    const text = encodeCacheValue(key, value);
    this.#assertOpen();
    return text;
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidArgumentError('This MemoryCacheStore has been closed.');
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
