import { setTimeout as sleep } from 'node:timers/promises';
import { traceBackendCall } from '../diagnostics/tracing.js';
import {
  AmbiguousCommitError,
  ContentionError,
  LimitExceededError,
  ShardcountError,
} from '../errors/index.js';
import { onAbort } from '../operation/abort-listeners.js';
import { assertCallOptions } from '../operation/call-options.js';
import {
  abortableDelay,
  abortError,
  raceCommit,
  raceSignal,
} from '../operation/operation-signal.js';
import { assertFunction, assertInteger, assertObject } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';
import {
  assertKeys,
  assertKind,
  assertRetryPolicyConsistent,
  checkRetryFields,
  readQueryOptions,
  toUpserts,
} from './entity-arguments.js';
import type {
  EntityBackend,
  EntityBackendLimits,
  Mutation,
  StoredEntity,
} from './entity-backend.js';
import type {
  AfterCommitCallback,
  EntityOf,
  EntityStore,
  QueryOptions,
  QueryResult,
  RetryPolicy,
  SaveEntry,
  StoreCallOptions,
  TransactionWork,
  TransactOptions,
} from './entity-store.js';
import { cloneEntity, toStorableEntity } from './entity-value.js';
import { assertKey, type Key, type Kind, keyId } from './key.js';
import { ambientTransaction, type TransactionContext } from './transaction-context.js';

/** Default retry policy of `transact`; see {@link RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  retries: 10,
  minTimeoutMs: 10,
  maxTimeoutMs: 1000,
  factor: 2,
});

/**
 * Options shared by every store built on {@link BackendEntityStore}. As with every shardcount
 * options object, a field the type does not declare is refused with `InvalidArgumentError`.
 */
export interface EntityStoreOptions {
  /**
   * Default retry policy of `transact`/`transactNew`; fields left out keep their defaults.
   * Ranges are on {@link RetryPolicy}.
   */
  readonly retry?: Partial<RetryPolicy>;
  /** Called before every transaction retry, for metrics. Per-call `onRetry` runs as well. */
  readonly onRetry?: TransactOptions['onRetry'];
}

/**
 * The Objectify-like {@link EntityStore} over any {@link EntityBackend}: validation before
 * I/O, chunking to the backend's limits, the ambient transaction with read-your-writes,
 * and jittered retries on contention. `MemoryEntityStore` and `DatastoreEntityStore` are
 * this class over their backends.
 */
export class BackendEntityStore implements EntityStore {
  /** The backend this store runs on; wrappers such as fault injection reuse it. */
  readonly backend: EntityBackend;
  /** `db.system.name` of the backend, for traced calls. */
  readonly #system: string;
  readonly #retry: RetryPolicy;
  readonly #onRetry: TransactOptions['onRetry'];

  /**
   * Builds the store over a backend.
   *
   * @param backend - the storage engine
   * @param options - retry policy and hooks
   */
  constructor(backend: EntityBackend, options: EntityStoreOptions = {}) {
    assertBackend(backend);
    const checked = checkRetryFields(
      readOptions(options, 'options', RETRY_OPTION_FIELDS),
      'options',
    );
    const retry = { ...DEFAULT_RETRY_POLICY, ...checked.retry };
    assertRetryPolicyConsistent(retry, 'options.retry');
    this.backend = backend;
    this.#system = typeof backend.system === 'string' ? backend.system : 'other';
    this.#retry = retry;
    this.#onRetry = checked.onRetry;
  }

  get inTransaction(): boolean {
    return this.#current() !== undefined;
  }

  get limits(): EntityBackendLimits {
    return this.backend.limits;
  }

  async afterCommit(callback: AfterCommitCallback): Promise<void> {
    assertFunction(callback, 'callback');
    const tx = this.#current();
    if (tx) {
      tx.afterCommit.push(callback);
      return;
    }
    await runAfterCommit([callback]);
  }

  async load<T extends object>(key: Key<T>, options?: StoreCallOptions): Promise<T | undefined> {
    assertKey(key);
    const [entity] = await this.loadMany([key] as const, options);
    return entity as T | undefined;
  }

  async loadMany<const K extends readonly Key[]>(
    keys: K,
    options?: StoreCallOptions,
  ): Promise<{ -readonly [I in keyof K]: EntityOf<K[I]> | undefined }> {
    assertKeys(keys);
    const tx = this.#current();
    const own = options === undefined ? undefined : callSignal(options);
    const signal = own ?? tx?.signal;
    if (signal?.aborted) throw abortError(signal, LOAD);
    const found = new Map<string, StoredEntity | undefined>();
    const pending = new Map<string, Key>();
    for (const k of keys) {
      const id = keyId(k);
      if (found.has(id) || pending.has(id)) continue;
      const buffered = tx?.writes.get(id);
      if (buffered) found.set(id, buffered.type === 'upsert' ? buffered.entity : undefined);
      else pending.set(id, k);
    }
    const maxLookupKeys = this.#limit('maxLookupKeys');
    const unique = [...pending.values()];
    const chunks: Key[][] = [];
    for (let i = 0; i < unique.length; i += maxLookupKeys) {
      chunks.push(unique.slice(i, i + maxLookupKeys));
    }
    const lookups = Promise.all(
      chunks.map((chunk) =>
        traceBackendCall(this.#system, 'lookup', chunk.length, () =>
          this.backend.lookup(chunk, tx?.transaction),
        ),
      ),
    );
    // A read whose caller gave up is dropped: its result would only be thrown away. Under
    // the transaction's signal alone it is not raced: the attempt, which races `work`, has
    // already given up, and one listener per read would cost every read.
    const results = own === undefined ? await lookups : await raceSignal(lookups, own, LOAD);
    if (signal?.aborted) throw abortError(signal, LOAD);
    for (const [c, chunk] of chunks.entries()) {
      for (const [i, k] of chunk.entries()) found.set(keyId(k), results[c]?.[i]);
    }
    return keys.map((k) => {
      const entity = found.get(keyId(k));
      return entity === undefined ? undefined : cloneEntity(entity);
    }) as { -readonly [I in keyof K]: EntityOf<K[I]> | undefined };
  }

  async save<T extends object>(key: Key<T>, entity: T, options?: StoreCallOptions): Promise<void> {
    assertKey(key);
    const upsert: Mutation = { type: 'upsert', key, entity: toStorableEntity(key.kind, entity) };
    await this.#write([upsert], options);
  }

  async saveMany(entries: readonly SaveEntry[], options?: StoreCallOptions): Promise<void> {
    await this.#write(toUpserts(entries), options);
  }

  async delete(key: Key, options?: StoreCallOptions): Promise<void> {
    assertKey(key);
    await this.#write([{ type: 'delete', key }], options);
  }

  async deleteMany(keys: readonly Key[], options?: StoreCallOptions): Promise<void> {
    assertKeys(keys);
    await this.#write(
      keys.map((key): Mutation => ({ type: 'delete', key })),
      options,
    );
  }

  async query<T extends object>(
    kind: Kind<T>,
    options?: QueryOptions,
  ): Promise<Array<QueryResult<T>>> {
    assertKind(kind);
    const { signal, query: backendQuery } = readQueryOptions(kind.name, options);
    // query never joins a transaction, but work inside `transact(work, { signal })` gives up
    // with it all the same.
    const ambient = signal === undefined ? this.#ambientSignal() : undefined;
    const effective = signal ?? ambient;
    if (effective?.aborted) throw abortError(effective, QUERY);
    const running = traceBackendCall(this.#system, 'query', undefined, () =>
      this.backend.query(backendQuery),
    );
    // As in loadMany: raced for its own signal, checked after for the transaction's.
    const rows = signal === undefined ? await running : await raceSignal(running, signal, QUERY);
    if (ambient?.aborted) throw abortError(ambient, QUERY);
    return rows.map((row) => ({
      key: kind.key(row.key.name),
      entity: cloneEntity(row.entity) as unknown as T,
    }));
  }

  async transact<R>(work: TransactionWork<R>, options?: TransactOptions): Promise<R> {
    const checked = this.#checkTransaction(work, options);
    const current = this.#current();
    if (current) return work({ attempt: current.attempt });
    return this.#runNew(work, checked, checked.signal);
  }

  async transactNew<R>(work: TransactionWork<R>, options?: TransactOptions): Promise<R> {
    const checked = this.#checkTransaction(work, options);
    // A fresh transaction started by work that runs under a signal is part of the same
    // operation: without a signal of its own it gives up with the outer one.
    return this.#runNew(work, checked, checked.signal ?? this.#ambientSignal());
  }

  async transactionless<R>(work: () => Promise<R>): Promise<R> {
    assertFunction(work, 'work');
    return ambientTransaction.run(undefined, work);
  }

  /** Validates `transact`/`transactNew` arguments before any transaction begins. */
  #checkTransaction(work: unknown, options: unknown): CheckedTransaction {
    assertFunction(work, 'work');
    const fields = readOptions(options, 'options', TRANSACT_OPTION_FIELDS);
    const checked = checkRetryFields(fields, 'options');
    const policy: RetryPolicy = { ...this.#retry, ...checked.retry };
    assertRetryPolicyConsistent(policy, 'options.retry');
    const { signal } = fields;
    if (signal !== undefined) assertCallOptions({ signal }, 'options');
    return { policy, onRetry: checked.onRetry, signal: signal as AbortSignal | undefined };
  }

  close(): Promise<void> {
    return this.backend.close();
  }

  /**
   * The signal of the ambient transaction of this store, if any; a closed transaction's too
   * (work that outlives its transaction fails at its first write, not at a read).
   */
  #ambientSignal(): AbortSignal | undefined {
    const ctx = ambientTransaction.getStore();
    return ctx === undefined || ctx.owner !== this.backend ? undefined : ctx.signal;
  }

  /** The ambient transaction when it belongs to this store. */
  #current(): TransactionContext | undefined {
    const ctx = ambientTransaction.getStore();
    if (ctx === undefined || ctx.owner !== this.backend) return undefined;
    if (ctx.closed) {
      // Work still running after its transaction gave up on an abort learns why.
      if (ctx.signal?.aborted) throw abortError(ctx.signal, TRANSACT);
      throw new ShardcountError(
        'TRANSACTION_CLOSED',
        `Transaction ${ctx.transaction.id} has already committed or rolled back; work that outlives its transaction cannot use it.`,
      );
    }
    return ctx;
  }

  /**
   * A backend limit, checked again at each use: a backend whose limits changed to 0 or NaN
   * after construction would otherwise make chunking loop forever.
   */
  #limit(name: keyof EntityBackendLimits): number {
    const value = this.backend.limits[name];
    assertInteger(value, `backend.limits.${name}`, { min: 1 });
    return value;
  }

  async #write(mutations: Mutation[], options: StoreCallOptions | undefined): Promise<void> {
    const tx = this.#current();
    const signal = (options === undefined ? undefined : callSignal(options)) ?? tx?.signal;
    if (signal?.aborted) throw abortError(signal, WRITE);
    if (tx) {
      for (const m of mutations) tx.writes.set(keyId(m.key), m);
      return;
    }
    const unique = [...new Map(mutations.map((m) => [keyId(m.key), m])).values()];
    const maxMutationsPerCommit = this.#limit('maxMutationsPerCommit');
    for (let i = 0; i < unique.length; i += maxMutationsPerCommit) {
      if (i > 0 && signal?.aborted) throw abortedBetweenCommits(signal, i, unique.length);
      const chunk = unique.slice(i, i + maxMutationsPerCommit);
      const commit = traceBackendCall(this.#system, 'commit', chunk.length, () =>
        this.backend.commit(chunk),
      );
      await (signal === undefined ? commit : raceCommit(commit, signal, WRITE));
    }
  }

  /**
   * Runs `work` in new transactions until one commits, retrying on `ContentionError` with
   * jittered exponential backoff (p-retry's schedule: attempt n waits
   * `min(maxTimeoutMs, round((1 + random) × minTimeoutMs × factor^(n−1)))`); the backoff
   * stops at once when `signal` aborts.
   */
  async #runNew<R>(
    work: TransactionWork<R>,
    options: CheckedTransaction,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const { policy } = options;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#attempt(work, attempt, signal);
      } catch (error) {
        const retriesLeft = policy.retries - (attempt - 1);
        if (!(error instanceof ContentionError) || retriesLeft <= 0) throw error;
        const event = { attempt, retriesLeft, error };
        this.#onRetry?.(event);
        options.onRetry?.(event);
        const delayMs = backoffMs(policy, attempt);
        if (signal !== undefined) await abortableDelay(delayMs, signal, TRANSACT);
        else if (delayMs > 0) await sleep(delayMs);
      }
    }
  }

  async #attempt<R>(
    work: TransactionWork<R>,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    if (signal?.aborted) throw abortError(signal, TRANSACT);
    const transaction = await traceBackendCall(this.#system, 'beginTransaction', undefined, () =>
      this.backend.beginTransaction(),
    );
    const ctx: TransactionContext = {
      owner: this.backend,
      transaction,
      writes: new Map(),
      attempt,
      signal,
      afterCommit: [],
      closed: false,
    };
    let committing = false;
    let result: R;
    // With a signal, one listener serves the whole attempt (work, then commit).
    const abort = signal === undefined ? undefined : new AttemptAbort(signal);
    try {
      const running = ambientTransaction.run(ctx, () => work({ attempt }));
      // With a signal, the attempt ends as soon as it aborts, whatever work is waiting for;
      // the context is closed below, so anything work writes afterwards fails.
      result = abort === undefined ? await running : await abort.race(running);
      const mutations = [...ctx.writes.values()];
      if (mutations.length > this.backend.limits.maxMutationsPerCommit) {
        throw new LimitExceededError(
          `A transaction may write at most ${this.backend.limits.maxMutationsPerCommit} entities on ${this.backend.description}; this one wrote ${mutations.length}. Nothing was written.`,
          { context: { mutations: mutations.length } },
        );
      }
      ctx.closed = true;
      // The last moment to give up with nothing written.
      if (signal?.aborted) throw abortError(signal, TRANSACT);
      committing = true;
      const commit = traceBackendCall(this.#system, 'commit', mutations.length, () =>
        this.backend.commit(mutations, transaction),
      );
      await (abort === undefined ? commit : abort.raceCommit(commit));
    } catch (error) {
      ctx.closed = true;
      // A failed commit has already ended the transaction; anything earlier must release it.
      if (!committing) {
        await traceBackendCall(this.#system, 'rollback', undefined, () =>
          this.backend.rollback(transaction),
        ).catch(() => undefined);
        // Whatever work made of the abort (an error it caught and replaced), the caller
        // learns that the transaction gave up because of the signal.
        if (signal?.aborted) throw abortError(signal, TRANSACT);
      }
      throw error;
    } finally {
      abort?.dispose();
    }
    await runAfterCommit(ctx.afterCommit);
    return result;
  }
}

/**
 * The abort of one transaction attempt as a promise, so that the work and then the commit
 * race it through a single listener on the signal (what `raceSignal` and `raceCommit` do
 * with one listener each).
 */
class AttemptAbort {
  readonly #signal: AbortSignal;
  readonly #aborted: Promise<never>;
  readonly #stopWaiting: () => void;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
    let abort!: () => void;
    this.#aborted = new Promise<never>((_, reject) => {
      abort = () => reject(ATTEMPT_ABORTED);
    });
    // Rejected while nothing races it (between work and commit): that is not unhandled.
    this.#aborted.catch(() => undefined);
    this.#stopWaiting = onAbort(signal, abort);
  }

  /** `promise`, or the abort error as soon as the signal aborts. */
  async race<T>(promise: Promise<T>): Promise<T> {
    try {
      return await Promise.race([promise, this.#aborted]);
    } catch (error) {
      throw error === ATTEMPT_ABORTED ? abortError(this.#signal, TRANSACT) : error;
    }
  }

  /** `commit`, or `AmbiguousCommitError` (cause: the abort error) as soon as it aborts. */
  async raceCommit(commit: Promise<void>): Promise<void> {
    try {
      await Promise.race([commit, this.#aborted]);
    } catch (error) {
      if (error !== ATTEMPT_ABORTED) throw error;
      throw new AmbiguousCommitError(
        'The transaction was aborted while its commit was in flight; the commit may or may not have been applied.',
        { cause: abortError(this.#signal, TRANSACT), context: TRANSACT },
      );
    }
  }

  dispose(): void {
    this.#stopWaiting();
  }
}

/** What {@link AttemptAbort}'s promise rejects with; mapped before anyone sees it. */
const ATTEMPT_ABORTED: unique symbol = Symbol('attempt aborted');

/** The fields of {@link EntityStoreOptions}. */
const RETRY_OPTION_FIELDS = ['retry', 'onRetry'] as const;

/** The fields of {@link TransactOptions}. */
const TRANSACT_OPTION_FIELDS = ['retry', 'onRetry', 'signal'] as const;

/** The fields of {@link StoreCallOptions}. */
const CALL_FIELDS = ['signal'] as const;

/** Context of the abort errors, naming the store operation that gave up. */
const LOAD = Object.freeze({ operation: 'EntityStore.load' });
const QUERY = Object.freeze({ operation: 'EntityStore.query' });
const WRITE = Object.freeze({ operation: 'EntityStore.write' });
const TRANSACT = Object.freeze({ operation: 'EntityStore.transact' });

/** `transact` options after validation, the retry policy merged with the store's. */
interface CheckedTransaction {
  readonly policy: RetryPolicy;
  readonly onRetry: TransactOptions['onRetry'];
  readonly signal: AbortSignal | undefined;
}

/**
 * A call's own `options.signal`, checked. Only called when `options` were given, so calls
 * without them allocate nothing here.
 */
function callSignal(options: StoreCallOptions): AbortSignal | undefined {
  const fields = readOptions(options, 'options', CALL_FIELDS);
  assertCallOptions(fields, 'options');
  return fields.signal;
}

/**
 * A `saveMany`/`deleteMany` outside a transaction aborted between two of its commits: the
 * earlier ones applied, the rest were never sent. Not "nothing written", so not an abort
 * error; ambiguous for the call as a whole.
 */
function abortedBetweenCommits(
  signal: AbortSignal,
  sent: number,
  total: number,
): AmbiguousCommitError {
  return new AmbiguousCommitError(
    `The write was aborted after ${sent} of its ${total} entities were committed (in separate commits); the rest were not written.`,
    { cause: abortError(signal, WRITE), context: { ...WRITE, committed: sent, total } },
  );
}

/** The delay before retry `attempt` + 1, as p-retry computes it with `randomize: true`. */
function backoffMs(policy: RetryPolicy, attempt: number): number {
  const delay = Math.round(
    (1 + Math.random()) * policy.minTimeoutMs * policy.factor ** (attempt - 1),
  );
  return Math.min(delay, policy.maxTimeoutMs);
}

const BACKEND_METHODS = [
  'beginTransaction',
  'lookup',
  'commit',
  'rollback',
  'query',
  'close',
] as const;

/**
 * Throws unless `backend` looks like an {@link EntityBackend} whose limits are positive
 * integers (a zero or NaN limit would make chunking loop forever or skip keys).
 */
function assertBackend(backend: unknown): asserts backend is EntityBackend {
  assertObject(backend, 'backend');
  const b = backend as Partial<Record<(typeof BACKEND_METHODS)[number], unknown>> & {
    limits?: unknown;
  };
  for (const method of BACKEND_METHODS) assertFunction(b[method], `backend.${method}`);
  assertObject(b.limits, 'backend.limits');
  const { maxLookupKeys, maxMutationsPerCommit } = b.limits as Partial<EntityBackendLimits>;
  assertInteger(maxLookupKeys, 'backend.limits.maxLookupKeys', { min: 1 });
  assertInteger(maxMutationsPerCommit, 'backend.limits.maxMutationsPerCommit', { min: 1 });
}

/**
 * Runs after-commit callbacks in order, outside any transaction; the data is already
 * durable, so their failures stay theirs.
 */
function runAfterCommit(callbacks: readonly AfterCommitCallback[]): Promise<void> {
  return ambientTransaction.run(undefined, async () => {
    for (const callback of callbacks) {
      try {
        await callback();
      } catch {
        // Documented: an after-commit callback handles its own errors.
      }
    }
  });
}
