import pRetry, { AbortError } from 'p-retry';
import { traceBackendCall } from '../diagnostics/tracing.js';
import { ContentionError, LimitExceededError, ShardcountError } from '../errors/index.js';
import { assertFunction, assertInteger, assertObject } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';
import {
  assertKeys,
  assertKind,
  assertRetryPolicyConsistent,
  checkRetryFields,
  toBackendQuery,
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

  async load<T extends object>(key: Key<T>): Promise<T | undefined> {
    assertKey(key);
    const [entity] = await this.loadMany([key] as const);
    return entity as T | undefined;
  }

  async loadMany<const K extends readonly Key[]>(
    keys: K,
  ): Promise<{ -readonly [I in keyof K]: EntityOf<K[I]> | undefined }> {
    assertKeys(keys);
    const tx = this.#current();
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
    const results = await Promise.all(
      chunks.map((chunk) =>
        traceBackendCall(this.#system, 'lookup', chunk.length, () =>
          this.backend.lookup(chunk, tx?.transaction),
        ),
      ),
    );
    for (const [c, chunk] of chunks.entries()) {
      for (const [i, k] of chunk.entries()) found.set(keyId(k), results[c]?.[i]);
    }
    return keys.map((k) => {
      const entity = found.get(keyId(k));
      return entity === undefined ? undefined : cloneEntity(entity);
    }) as { -readonly [I in keyof K]: EntityOf<K[I]> | undefined };
  }

  async save<T extends object>(key: Key<T>, entity: T): Promise<void> {
    assertKey(key);
    const upsert: Mutation = { type: 'upsert', key, entity: toStorableEntity(key.kind, entity) };
    await this.#write([upsert]);
  }

  async saveMany(entries: readonly SaveEntry[]): Promise<void> {
    await this.#write(toUpserts(entries));
  }

  async delete(key: Key): Promise<void> {
    assertKey(key);
    await this.#write([{ type: 'delete', key }]);
  }

  async deleteMany(keys: readonly Key[]): Promise<void> {
    assertKeys(keys);
    await this.#write(keys.map((key): Mutation => ({ type: 'delete', key })));
  }

  async query<T extends object>(
    kind: Kind<T>,
    options: QueryOptions = {},
  ): Promise<Array<QueryResult<T>>> {
    assertKind(kind);
    const backendQuery = toBackendQuery(kind.name, options);
    const rows = await traceBackendCall(this.#system, 'query', undefined, () =>
      this.backend.query(backendQuery),
    );
    return rows.map((row) => ({
      key: kind.key(row.key.name),
      entity: cloneEntity(row.entity) as unknown as T,
    }));
  }

  async transact<R>(work: TransactionWork<R>, options?: TransactOptions): Promise<R> {
    const checked = this.#checkTransaction(work, options);
    const current = this.#current();
    if (current) return work({ attempt: current.attempt });
    return this.#runNew(work, checked);
  }

  async transactNew<R>(work: TransactionWork<R>, options?: TransactOptions): Promise<R> {
    return this.#runNew(work, this.#checkTransaction(work, options));
  }

  async transactionless<R>(work: () => Promise<R>): Promise<R> {
    assertFunction(work, 'work');
    return ambientTransaction.run(undefined, work);
  }

  /** Validates `transact`/`transactNew` arguments before any transaction begins. */
  #checkTransaction(work: unknown, options: unknown): CheckedTransaction {
    assertFunction(work, 'work');
    const checked = checkRetryFields(
      readOptions(options, 'options', RETRY_OPTION_FIELDS),
      'options',
    );
    const policy: RetryPolicy = { ...this.#retry, ...checked.retry };
    assertRetryPolicyConsistent(policy, 'options.retry');
    return { policy, onRetry: checked.onRetry };
  }

  close(): Promise<void> {
    return this.backend.close();
  }

  /** The ambient transaction when it belongs to this store. */
  #current(): TransactionContext | undefined {
    const ctx = ambientTransaction.getStore();
    if (ctx === undefined || ctx.owner !== this.backend) return undefined;
    if (ctx.closed) {
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

  async #write(mutations: Mutation[]): Promise<void> {
    const tx = this.#current();
    if (tx) {
      for (const m of mutations) tx.writes.set(keyId(m.key), m);
      return;
    }
    const unique = [...new Map(mutations.map((m) => [keyId(m.key), m])).values()];
    const maxMutationsPerCommit = this.#limit('maxMutationsPerCommit');
    for (let i = 0; i < unique.length; i += maxMutationsPerCommit) {
      const chunk = unique.slice(i, i + maxMutationsPerCommit);
      await traceBackendCall(this.#system, 'commit', chunk.length, () =>
        this.backend.commit(chunk),
      );
    }
  }

  #runNew<R>(work: TransactionWork<R>, options: CheckedTransaction): Promise<R> {
    const { policy } = options;
    return pRetry(
      async (attempt) => {
        try {
          return await this.#attempt(work, attempt);
        } catch (error) {
          if (error instanceof ContentionError) throw error;
          throw new AbortError(error instanceof Error ? error : String(error));
        }
      },
      {
        retries: policy.retries,
        minTimeout: policy.minTimeoutMs,
        maxTimeout: policy.maxTimeoutMs,
        factor: policy.factor,
        randomize: true,
        shouldRetry: ({ error, attemptNumber, retriesLeft }) => {
          const event = { attempt: attemptNumber, retriesLeft, error };
          this.#onRetry?.(event);
          options.onRetry?.(event);
          return true;
        },
      },
    );
  }

  async #attempt<R>(work: TransactionWork<R>, attempt: number): Promise<R> {
    const transaction = await traceBackendCall(this.#system, 'beginTransaction', undefined, () =>
      this.backend.beginTransaction(),
    );
    const ctx: TransactionContext = {
      owner: this.backend,
      transaction,
      writes: new Map(),
      attempt,
      afterCommit: [],
      closed: false,
    };
    let committing = false;
    let result: R;
    try {
      result = await ambientTransaction.run(ctx, () => work({ attempt }));
      const mutations = [...ctx.writes.values()];
      if (mutations.length > this.backend.limits.maxMutationsPerCommit) {
        throw new LimitExceededError(
          `A transaction may write at most ${this.backend.limits.maxMutationsPerCommit} entities on ${this.backend.description}; this one wrote ${mutations.length}. Nothing was written.`,
          { context: { mutations: mutations.length } },
        );
      }
      ctx.closed = true;
      committing = true;
      await traceBackendCall(this.#system, 'commit', mutations.length, () =>
        this.backend.commit(mutations, transaction),
      );
    } catch (error) {
      ctx.closed = true;
      // A failed commit has already ended the transaction; anything earlier must release it.
      if (!committing) {
        await traceBackendCall(this.#system, 'rollback', undefined, () =>
          this.backend.rollback(transaction),
        ).catch(() => undefined);
      }
      throw error;
    }
    await runAfterCommit(ctx.afterCommit);
    return result;
  }
}

/** The fields of {@link TransactOptions} and {@link EntityStoreOptions}. */
const RETRY_OPTION_FIELDS = ['retry', 'onRetry'] as const;

/** `transact` options after validation, the retry policy merged with the store's. */
interface CheckedTransaction {
  readonly policy: RetryPolicy;
  readonly onRetry: TransactOptions['onRetry'];
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
