import { setImmediate as nextTurn } from 'node:timers/promises';
import { ContentionError, LimitExceededError } from '../errors/index.js';
import { readOptions } from '../validation/options.js';
import { BackendEntityStore, type EntityStoreOptions } from './backend-entity-store.js';
import { assertBackendQuery, checkLimits } from './entity-arguments.js';
import type {
  BackendQuery,
  BackendTransaction,
  EntityBackend,
  EntityBackendLimits,
  Mutation,
  QueryRow,
  StoredEntity,
} from './entity-backend.js';
import { cloneEntity } from './entity-value.js';
import { type Key, keyId, key as makeKey } from './key.js';
import { compareKeyNames } from './key-order.js';

/** Options of {@link MemoryEntityStore}. */
export interface MemoryEntityStoreOptions extends EntityStoreOptions {
  /**
   * Per-call limits to enforce, as a real backend would: each a whole number from 1 to
   * `Number.MAX_SAFE_INTEGER`. Defaults to Datastore's (1000 keys per lookup, 500 mutations
   * per commit), so code that passes here fits there.
   */
  readonly limits?: Partial<EntityBackendLimits>;
}

interface Versioned {
  readonly key: Key;
  readonly entity: StoredEntity;
  readonly version: number;
}

interface MemoryTransaction extends BackendTransaction {
  /** Global version when the transaction began: later writes to its keys conflict. */
  readonly startVersion: number;
  /** Version of every entity read (0 = absent), and the snapshot returned for it. */
  readonly reads: Map<string, { version: number; entity: StoredEntity | undefined }>;
  done: boolean;
}

/**
 * Embedded {@link EntityBackend} with optimistic concurrency control: every entity carries a
 * version, and a commit fails with `ContentionError` when anything the transaction read,
 * or any entity it writes, changed after the transaction read it or began. Every call
 * yields to the event loop, so concurrent transactions interleave as they do on a server.
 */
export class MemoryEntityBackend implements EntityBackend {
  readonly description = 'memory';
  /** Tracing's `db.system.name`. */
  readonly system = 'memory';
  readonly limits: EntityBackendLimits;
  readonly #entities = new Map<string, Versioned>();
  #version = 0;
  #nextTransaction = 1;

  /**
   * Creates an empty backend.
   *
   * @param limits - per-call limits to enforce; Datastore's by default
   */
  constructor(limits: Partial<EntityBackendLimits> = {}) {
    this.limits = Object.freeze({
      maxLookupKeys: 1000,
      maxMutationsPerCommit: 500,
      ...checkLimits(limits, 'limits'),
    });
  }

  async beginTransaction(): Promise<BackendTransaction> {
    await nextTurn();
    const tx: MemoryTransaction = {
      id: `memory-tx-${this.#nextTransaction++}`,
      startVersion: this.#version,
      reads: new Map(),
      done: false,
    };
    return tx;
  }

  async lookup(
    keys: readonly Key[],
    transaction?: BackendTransaction,
  ): Promise<Array<StoredEntity | undefined>> {
    if (keys.length > this.limits.maxLookupKeys) {
      throw new LimitExceededError(
        `A lookup may ask for at most ${this.limits.maxLookupKeys} keys; got ${keys.length}.`,
      );
    }
    await nextTurn();
    const tx = transaction as MemoryTransaction | undefined;
    return keys.map((k) => {
      const id = keyId(k);
      const seen = tx?.reads.get(id);
      if (seen) return seen.entity;
      const stored = this.#entities.get(id);
      if (tx) tx.reads.set(id, { version: stored?.version ?? 0, entity: stored?.entity });
      return stored?.entity;
    });
  }

  async commit(mutations: readonly Mutation[], transaction?: BackendTransaction): Promise<void> {
    if (mutations.length > this.limits.maxMutationsPerCommit) {
      throw new LimitExceededError(
        `A commit may carry at most ${this.limits.maxMutationsPerCommit} mutations; got ${mutations.length}.`,
      );
    }
    await nextTurn();
    const tx = transaction as MemoryTransaction | undefined;
    if (tx) {
      if (tx.done) throw new ContentionError(`Transaction ${tx.id} is no longer active.`);
      tx.done = true;
      for (const [id, read] of tx.reads) {
        if ((this.#entities.get(id)?.version ?? 0) !== read.version) {
          throw contention(tx, id);
        }
      }
      for (const m of mutations) {
        const id = keyId(m.key);
        if (!tx.reads.has(id) && (this.#entities.get(id)?.version ?? 0) > tx.startVersion) {
          throw contention(tx, id);
        }
      }
    }
    // Synchronous from here on: the commit is atomic with respect to every other call.
    const version = ++this.#version;
    for (const m of mutations) {
      const id = keyId(m.key);
      if (m.type === 'delete') this.#entities.delete(id);
      else this.#entities.set(id, { key: m.key, entity: cloneEntity(m.entity), version });
    }
  }

  async rollback(transaction: BackendTransaction): Promise<void> {
    (transaction as MemoryTransaction).done = true;
  }

  async query(query: BackendQuery): Promise<QueryRow[]> {
    // The same rules as the Datastore backend, so code that passes here passes there.
    assertBackendQuery(query);
    await nextTurn();
    const { kind, filters, keyPrefix = '', startAfter } = query;
    const rows = [...this.#entities.values()]
      .filter(
        (row) =>
          row.key.kind === kind &&
          row.key.name.startsWith(keyPrefix) &&
          (startAfter === undefined || compareKeyNames(row.key.name, startAfter) > 0) &&
          filters.every((f) => row.entity[f.property] === f.value),
      )
      .sort((a, b) => compareKeyNames(a.key.name, b.key.name));
    const limited = query.limit === undefined ? rows : rows.slice(0, query.limit);
    return limited.map((row) => ({
      key: makeKey(row.key.kind, row.key.name),
      entity: cloneEntity(row.entity),
    }));
  }

  async close(): Promise<void> {}
}

function contention(tx: MemoryTransaction, id: string): ContentionError {
  return new ContentionError(
    `Transaction ${tx.id} lost a race on ${id}: another transaction changed it first.`,
    { context: { transaction: tx.id } },
  );
}

/**
 * The embedded {@link EntityStore}: the full Objectify-like API over
 * {@link MemoryEntityBackend}, with real optimistic transactions, so contention, retries and
 * rollbacks behave as on Datastore without any server. Data lives in this process only.
 *
 * @example
 * ```ts
 * const store = new MemoryEntityStore();
 * await store.transact(async () => {
 *   const page = await store.load(Pages.key('home'));
 *   await store.save(Pages.key('home'), { ...page!, views: page!.views + 1 });
 * });
 * ```
 */
export class MemoryEntityStore extends BackendEntityStore {
  /**
   * Creates an empty store.
   *
   * @param options - limits, retry policy and hooks; a field not declared by
   *   {@link MemoryEntityStoreOptions} is refused with `InvalidArgumentError`
   */
  constructor(options: MemoryEntityStoreOptions = {}) {
    const { limits, retry, onRetry } = readOptions(options, 'options', [
      'limits',
      'retry',
      'onRetry',
    ]);
    const backend = new MemoryEntityBackend(
      (limits === undefined
        ? {}
        : checkLimits(limits, 'options.limits')) as Partial<EntityBackendLimits>,
    );
    super(backend, { retry, onRetry } as EntityStoreOptions);
  }
}
