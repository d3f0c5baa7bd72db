import type { EntityBackendLimits, PropertyFilter } from './entity-backend.js';
import type { Key, Kind } from './key.js';

/** The entity type a key refers to. */
export type EntityOf<K> = K extends Key<infer T> ? T : never;

/** One entity to save: its key and its data. */
export interface SaveEntry<T extends object = object> {
  /** Where to save. */
  readonly key: Key<T>;
  /** The data; properties whose value is `undefined` are not stored. */
  readonly entity: T;
}

/**
 * Per-call options of the {@link EntityStore} methods (the optional last parameter of
 * `load`, `loadMany`, `save`, `saveMany`, `delete`, `deleteMany`; part of
 * {@link QueryOptions}). A field not declared here is refused with `InvalidArgumentError`.
 *
 * Inside `transact(work, { signal })` the calls `work` makes run under the transaction's
 * signal without being given one; a `signal` given to such a call applies to that call
 * instead.
 */
export interface StoreCallOptions {
  /**
   * Gives up on the call when it aborts (an `AbortSignal`). Already aborted, or aborting
   * before anything is written: the call rejects with the abort error (the signal's reason
   * when it is an `OperationAbortedError` or `DeadlineExceededError`, as with a signal from
   * `openOperationSignal`; otherwise an `OperationAbortedError` with the reason as `cause`)
   * and nothing is written. A read in flight is dropped at once. Aborting while a write's
   * commit is in flight gives `AmbiguousCommitError` (cause: the abort error), as that commit
   * may still apply; a `saveMany`/`deleteMany` split into several commits stops before the
   * next one.
   */
  readonly signal?: AbortSignal | undefined;
}

/** One result of {@link EntityStore.query}. */
export interface QueryResult<T extends object> {
  /** The entity's key. */
  readonly key: Key<T>;
  /** The entity's data. */
  readonly entity: T;
}

/**
 * Options of {@link EntityStore.query}. A field not declared here is refused with
 * `InvalidArgumentError`, as in every shardcount options object. All conditions apply
 * together (AND), then `limit`; results come ordered by key name.
 *
 * Listing page by page: ask for `limit` results, then for the next page pass the last
 * result's key name as `startAfter`; a page shorter than `limit` is the last. Each page is
 * a fresh query of committed data, so an entity written between pages shows up when its
 * name is after the cursor and not when it is before; no entity shows up twice, and one
 * that exists throughout the listing shows up exactly once.
 *
 * @example
 * ```ts
 * let startAfter: string | undefined;
 * do {
 *   const page = await store.query(Counters, { keyPrefix: 'page:', limit: 100, startAfter });
 *   for (const { key, entity } of page) console.log(key.name, entity);
 *   startAfter = page.length === 100 ? page.at(-1)?.key.name : undefined;
 * } while (startAfter !== undefined);
 * ```
 */
export interface QueryOptions extends StoreCallOptions {
  /**
   * Equality filters on top-level properties, all of which must match: an array of
   * `{ property, value }`, `property` a non-empty string, `value` a string, a finite number
   * (safe if whole), a boolean or `null`.
   */
  readonly filters?: readonly PropertyFilter[];
  /**
   * Only entities whose key name starts with this string: a well-formed string of at most
   * 1500 UTF-8 bytes; `''` (the default) matches every name. On Datastore it becomes a key
   * range on `__key__`, so it reads only the matching keys.
   */
  readonly keyPrefix?: string;
  /**
   * Only entities whose key name sorts strictly after this one: the cursor of a paginated
   * listing, normally the last key name of the previous page. A key name as `key()` accepts
   * it (non-empty, well-formed, at most 1500 UTF-8 bytes, not of the reserved form `__*__`);
   * the entity need not exist.
   */
  readonly startAfter?: string;
  /** Most results to return: a whole number from 0 to 2^31 − 1 (Datastore's int32). */
  readonly limit?: number;
}

/**
 * How `transact` retries a transaction that lost an optimistic-concurrency race. Delays
 * grow by `factor` from `minTimeoutMs` to at most `maxTimeoutMs` and are randomised
 * (jitter) so that contenders spread out. Every field is checked before any transaction
 * begins; a value out of its range, or a field not declared here, is an
 * `InvalidArgumentError` naming it (`options.retry.retries`).
 */
export interface RetryPolicy {
  /**
   * Retries after the first attempt (so `retries + 1` attempts in all): a whole number from
   * 0 to 1000 (`MAX_RETRIES`). Default 10.
   */
  readonly retries: number;
  /**
   * Delay before the first retry, in whole milliseconds from 0 to 2^31 − 1 (the longest
   * timer Node.js honours), at most `maxTimeoutMs`. Default 10.
   */
  readonly minTimeoutMs: number;
  /** Largest delay between attempts, in whole milliseconds from 0 to 2^31 − 1. Default 1000. */
  readonly maxTimeoutMs: number;
  /** Growth of the delay per attempt: a finite number from 1 to 100. Default 2. */
  readonly factor: number;
}

/** Reported through {@link TransactOptions.onRetry} before a transaction is retried. */
export interface RetryEvent {
  /** Number of the attempt that failed, from 1. */
  readonly attempt: number;
  /** Retries still allowed after this one. */
  readonly retriesLeft: number;
  /** Why it failed (a `ContentionError`). */
  readonly error: Error;
}

/**
 * Options of {@link EntityStore.transact} and {@link EntityStore.transactNew}, checked (even
 * when joining an outer transaction) before any transaction begins; a field not declared
 * here is refused.
 */
export interface TransactOptions {
  /** Overrides the store's retry policy for this transaction; ranges on {@link RetryPolicy}. */
  readonly retry?: Partial<RetryPolicy>;
  /** Called before each retry, e.g. to count contention. A function. */
  readonly onRetry?: (event: RetryEvent) => void;
  /**
   * Gives up on the transaction when it aborts (an `AbortSignal`):
   *
   * - already aborted: rejects at once with the abort error (see below); `work` never runs
   *   and no backend call is made;
   * - aborting while `work` runs (its reads are dropped at once) or during the backoff
   *   between attempts (which stops at once): the attempt is rolled back, no further attempt
   *   starts, and `transact` rejects with the abort error; nothing is written, and store calls
   *   `work` still makes afterwards fail;
   * - aborting while the commit is in flight: rejects with `AmbiguousCommitError` whose
   *   `cause` is the abort error, since the commit may or may not apply.
   *
   * The abort error is the signal's `reason` when that is an `OperationAbortedError` or
   * `DeadlineExceededError` (a signal from `openOperationSignal`), otherwise an
   * `OperationAbortedError` with the reason as `cause`. Every `load`, `loadMany`, `query`,
   * `save` (…) that `work` makes runs under this signal without being passed it, and so does
   * a `transactNew` inside `work` that has no signal of its own. Ignored when joining an
   * outer transaction, like the other options: the outer transaction's signal applies.
   */
  readonly signal?: AbortSignal | undefined;
}

/** Facts about the transaction attempt a piece of transactional work runs in. */
export interface TransactionInfo {
  /** Attempt number, from 1; above 1 the work is being retried after contention. */
  readonly attempt: number;
}

/**
 * Work to run once a transaction has committed; see {@link EntityStore.afterCommit}.
 */
export type AfterCommitCallback = () => void | Promise<void>;

/**
 * Work run in a transaction. It may run more than once (after contention), so it must be
 * idempotent apart from its store reads and writes, exactly as in Objectify.
 */
export type TransactionWork<R> = (info: TransactionInfo) => Promise<R>;

/**
 * An Objectify-like entity store: typed keys, plain-object entities and an ambient
 * transaction carried by the async context.
 *
 * Every method checks its arguments before any I/O and before a transaction begins: a bad
 * one is an `InvalidArgumentError` (a rejection, never a synchronous throw) whose
 * `context.argument` names it, e.g. `keys[2].name` or `entries[0].entity.price`.
 *
 * Inside `transact(work)`, every `load`/`save`/`delete` made by `work` (across awaits and
 * parallel branches) goes through the transaction: reads are consistent, a transaction sees
 * its own writes, writes apply only when the transaction commits, and a throw rolls back.
 * `query` never joins a transaction.
 */
export interface EntityStore {
  /** Whether the calling async context is inside a transaction. */
  readonly inTransaction: boolean;
  /**
   * What one call of the backend may carry: the most keys per lookup and the most writes a
   * single transaction can commit. Batches outside transactions are chunked to these.
   */
  readonly limits: EntityBackendLimits;
  /** Reads one entity; `undefined` when it does not exist. `options.signal` cancels it. */
  load<T extends object>(key: Key<T>, options?: StoreCallOptions): Promise<T | undefined>;
  /**
   * Reads many entities in one logical call; results follow the order of `keys`
   * (`undefined` where missing). Lookups are chunked to the backend's limit, so any
   * number of keys works. Keys may be of different kinds. `options.signal` cancels it.
   */
  loadMany<const K extends readonly Key[]>(
    keys: K,
    options?: StoreCallOptions,
  ): Promise<{ -readonly [I in keyof K]: EntityOf<K[I]> | undefined }>;
  /** Creates or replaces one entity. `options.signal` cancels it (see {@link StoreCallOptions}). */
  save<T extends object>(key: Key<T>, entity: T, options?: StoreCallOptions): Promise<void>;
  /**
   * Creates or replaces many entities. Outside a transaction the writes are chunked to the
   * backend's commit limit and each chunk is atomic on its own; inside one, all apply at
   * commit or none do. `options.signal` cancels it (see {@link StoreCallOptions}).
   */
  saveMany(entries: readonly SaveEntry[], options?: StoreCallOptions): Promise<void>;
  /** Deletes one entity; deleting a missing entity is not an error. */
  delete(key: Key, options?: StoreCallOptions): Promise<void>;
  /** Deletes many entities, chunked like {@link EntityStore.saveMany}. */
  deleteMany(keys: readonly Key[], options?: StoreCallOptions): Promise<void>;
  /**
   * Reads the entities of a kind that match equality filters and a key-name range (prefix,
   * cursor), ordered by key name: by the names' UTF-8 bytes, as Datastore orders them
   * (`compareKeyNames`, not JavaScript's `<`, which differs for characters above U+FFFF).
   * Always outside any transaction; results reflect committed data only. See
   * {@link QueryOptions} for listing page by page; `options.signal` cancels it.
   */
  query<T extends object>(kind: Kind<T>, options?: QueryOptions): Promise<Array<QueryResult<T>>>;
  /**
   * Runs `work` in the ambient transaction, or in a new one when there is none. A new
   * transaction that loses a race (`ContentionError`) is rolled back and `work` runs again,
   * with jittered backoff, up to the retry policy's limit. An `AmbiguousCommitError` is
   * never retried. When joining, `options` are ignored and errors go to the outer
   * transaction, which decides about retries.
   */
  transact<R>(work: TransactionWork<R>, options?: TransactOptions): Promise<R>;
  /** Runs `work` in a fresh transaction even inside another one, which is suspended. */
  transactNew<R>(work: TransactionWork<R>, options?: TransactOptions): Promise<R>;
  /**
   * Runs `callback` once the ambient transaction has committed, before `transact` returns to
   * its caller; never when it rolls back, and not for an attempt that lost a race and was
   * retried (the retry registers again). Outside a transaction it runs at once. Callbacks
   * run in registration order after the data is durable, so they must handle their own
   * failures: an error they throw is not reported to the caller, whose transaction did
   * commit. Use it for side effects that must follow the commit, such as cache updates.
   */
  afterCommit(callback: AfterCommitCallback): Promise<void>;
  /** Runs `work` outside any transaction, even when called inside one. */
  transactionless<R>(work: () => Promise<R>): Promise<R>;
  /** Releases the backend's connections. */
  close(): Promise<void>;
}
