import {
  BackendEntityStore,
  type BackendQuery,
  type BackendTransaction,
  type EntityBackend,
  type EntityBackendLimits,
  type Key,
  keyId,
  LimitExceededError,
  type Mutation,
  type StoredEntity,
} from '@shardcount/storage';

/**
 * A store over another store's data that enforces legacy Cloud Datastore's rule that a
 * transaction may touch at most `maxEntityGroups` entity groups (every shardcount entity is a
 * root entity, so a group per key read or written). Past it, the call fails with
 * `LimitExceededError` and the transaction writes nothing, as the real service answers
 * `operating on too many entity groups in a single transaction`. Lets the legacy behaviour be
 * tested on every adapter, including the emulator in Firestore-in-Datastore mode.
 */
export class EntityGroupLimitedStore extends BackendEntityStore {
  constructor(inner: BackendEntityStore, maxEntityGroups = 25) {
    super(new EntityGroupLimitedBackend(inner.backend, maxEntityGroups));
  }
}

class EntityGroupLimitedBackend implements EntityBackend {
  readonly description: string;
  readonly limits: EntityBackendLimits;
  readonly #inner: EntityBackend;
  readonly #max: number;
  readonly #touched = new WeakMap<BackendTransaction, Set<string>>();

  constructor(inner: EntityBackend, maxEntityGroups: number) {
    this.#inner = inner;
    this.#max = maxEntityGroups;
    this.description = `entity-group-limited(${inner.description})`;
    this.limits = inner.limits;
  }

  #touch(tx: BackendTransaction, keys: readonly Key[]): void {
    let touched = this.#touched.get(tx);
    if (touched === undefined) {
      touched = new Set();
      this.#touched.set(tx, touched);
    }
    for (const k of keys) touched.add(keyId(k));
    if (touched.size > this.#max) {
      throw new LimitExceededError(
        `operating on too many entity groups in a single transaction (${touched.size} > ${this.#max}; simulated legacy Datastore).`,
      );
    }
  }

  beginTransaction(): Promise<BackendTransaction> {
    return this.#inner.beginTransaction();
  }

  async lookup(
    keys: readonly Key[],
    tx?: BackendTransaction,
  ): Promise<Array<StoredEntity | undefined>> {
    if (tx !== undefined) this.#touch(tx, keys);
    return this.#inner.lookup(keys, tx);
  }

  async commit(mutations: readonly Mutation[], tx?: BackendTransaction): Promise<void> {
    if (tx !== undefined) {
      try {
        this.#touch(
          tx,
          mutations.map((m) => m.key),
        );
      } catch (error) {
        // A commit that fails ends the transaction: release the inner one.
        await this.#inner.rollback(tx).catch(() => undefined);
        throw error;
      }
    }
    return this.#inner.commit(mutations, tx);
  }

  rollback(tx: BackendTransaction): Promise<void> {
    return this.#inner.rollback(tx);
  }

  query(query: BackendQuery): Promise<Array<{ key: Key; entity: StoredEntity }>> {
    return this.#inner.query(query);
  }

  async close(): Promise<void> {
    // The inner store belongs to the test environment, which closes it.
  }
}
