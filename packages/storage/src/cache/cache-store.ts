import type { StoreCallOptions } from '../entity/entity-store.js';

/**
 * A value the cache holds: an integer or any JSON-serialisable data. Values are stored as
 * JSON text, so a non-negative integer is stored as its decimal digits and works with
 * `incr`/`decr`.
 */
export type CacheValue =
  | number
  | string
  | boolean
  | null
  | readonly CacheValue[]
  | { readonly [property: string]: CacheValue };

declare const casBrand: unique symbol;

/**
 * Opaque compare-and-set token returned by {@link CacheStore.gets}: it names the exact
 * version of the value that was read. Pass it back to {@link CacheStore.cas} unchanged.
 */
export type CasToken = string & {
  /** Compile-time brand: only tokens from `gets` fit. */
  readonly [casBrand]: true;
};

/**
 * Options of the cache writes. `signal` gives up on the call: already aborted, nothing is
 * sent and the call rejects with the abort error (see {@link StoreCallOptions}); aborting
 * while the write is in flight rejects with `AmbiguousCommitError` (cause: the abort error),
 * since the server may still apply it.
 */
export interface CacheWriteOptions extends StoreCallOptions {
  /**
   * Time to live in whole seconds, from 0 to `Number.MAX_SAFE_INTEGER`; `0` or absent means
   * no expiry (the entry may still be evicted). Values over 30 days are sent to memcached as absolute times, as it requires.
   */
  readonly ttlSeconds?: number;
}

/** Options of {@link CacheStore.incr} and {@link CacheStore.decr}. */
export interface CacheCounterOptions extends CacheWriteOptions {
  /**
   * Value the counter is taken to have when the key is missing: the key is created holding
   * `initial + delta` (`max(initial - delta, 0)` for `decr`) with `ttlSeconds`. Absent: a
   * missing key stays missing and the call returns `undefined`. The TTL applies only when
   * the key is created. A whole number from 0 to `Number.MAX_SAFE_INTEGER`.
   */
  readonly initial?: number;
}

/** A value read together with its compare-and-set token. */
export interface CasEntry<V extends CacheValue = CacheValue> {
  /** The value. */
  readonly value: V;
  /** The token naming this version of the value. */
  readonly cas: CasToken;
}

/**
 * A memcache-like, best-effort cache. Any non-empty string is a valid key (adapters map
 * keys their server cannot take). Entries may disappear at any time (eviction, restart):
 * never keep the only copy of data here.
 *
 * Every call either completes or fails within the adapter's timeout with
 * `CacheUnavailableError`; it never hangs. Invalid arguments (an empty or ill-formed key, a
 * `keys` that is not an array, a negative TTL, a non-serialisable value, an unsafe integer,
 * options that are not an object or have a field their type does not declare, a CAS token
 * that is not a string) fail with `InvalidArgumentError` naming the argument
 * (`context.argument`) before any I/O; so does every call after `close()`.
 *
 * Every call takes a `signal` (trailing {@link StoreCallOptions}, or the field of its
 * options): aborted before the call, it rejects at once with the abort error
 * (`OperationAbortedError`, the signal's reason as `cause`, or the reason itself when it is
 * an `OperationAbortedError`/`DeadlineExceededError`) and sends nothing; aborting while a
 * read is in flight rejects at once with the same error, while a write is in flight with
 * `AmbiguousCommitError`. The server's late answer is read and dropped, so the connection
 * stays usable. Without a signal a call pays nothing for it.
 */
export interface CacheStore {
  /** Reads a value; `undefined` when missing or expired. */
  get<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<V | undefined>;
  /** Reads many values in one round trip; the map holds only the keys found. */
  getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
    options?: StoreCallOptions,
  ): Promise<Map<string, V>>;
  /** Reads a value with its compare-and-set token; `undefined` when missing. */
  gets<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<CasEntry<V> | undefined>;
  /**
   * Writes `value` only if the entry still has the version `cas` names. Returns `false`
   * (writing nothing) when someone wrote or deleted it since, or it expired.
   */
  cas(key: string, value: CacheValue, cas: CasToken, options?: CacheWriteOptions): Promise<boolean>;
  /** Writes `value` only if the key is missing; returns whether it did. */
  add(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<boolean>;
  /** Writes `value` unconditionally. */
  set(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<void>;
  /**
   * Adds `delta` (a non-negative safe integer) to a counter stored as a non-negative
   * integer, atomically on the server, and returns the new value; `undefined` when the key is
   * missing and no `initial` is given. Fails with `InvalidArgumentError` when the stored
   * value is not a non-negative integer and with `OutOfRangeError` when the result would
   * pass `Number.MAX_SAFE_INTEGER`.
   */
  incr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined>;
  /**
   * Subtracts `delta` from a counter, never going below zero (memcached's rule), and
   * returns the new value; `undefined` when missing and no `initial` is given.
   */
  decr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined>;
  /** Removes a key; returns whether it existed. */
  delete(key: string, options?: StoreCallOptions): Promise<boolean>;
  /** Releases connections and timers; the store cannot be used afterwards. */
  close(): Promise<void>;
}
