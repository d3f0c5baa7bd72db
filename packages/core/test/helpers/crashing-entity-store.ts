import {
  BackendEntityStore,
  type BackendQuery,
  type BackendTransaction,
  type EntityBackend,
  type EntityBackendLimits,
  type Key,
  type Mutation,
  type StoredEntity,
  StoreUnavailableError,
} from '@shardcount/storage';

/**
 * A store over another store's data whose "process" dies at a chosen commit: the first
 * `commitsBeforeCrash` commits go through, the next one fails without writing anything, and
 * from then on every call fails, as calls from a crashed process never arrive. Tests then
 * recover with a fresh service on the healthy store, as a restarted process would.
 */
export class CrashingEntityStore extends BackendEntityStore {
  readonly #backend: CrashingBackend;

  constructor(inner: BackendEntityStore, commitsBeforeCrash: number) {
    const backend = new CrashingBackend(inner.backend, commitsBeforeCrash);
    super(backend, { retry: { retries: 0 } });
    this.#backend = backend;
  }

  /** Whether the simulated crash has happened. */
  get crashed(): boolean {
    return this.#backend.crashed;
  }
}

class CrashingBackend implements EntityBackend {
  readonly description: string;
  readonly limits: EntityBackendLimits;
  crashed = false;
  readonly #inner: EntityBackend;
  #commitsLeft: number;

  constructor(inner: EntityBackend, commitsBeforeCrash: number) {
    this.#inner = inner;
    this.#commitsLeft = commitsBeforeCrash;
    this.description = `crashing(${inner.description})`;
    this.limits = inner.limits;
  }

  #alive(): void {
    if (this.crashed) throw new StoreUnavailableError('Simulated crash: this process is gone.');
  }

  async beginTransaction(): Promise<BackendTransaction> {
    this.#alive();
    return this.#inner.beginTransaction();
  }

  async lookup(
    keys: readonly Key[],
    tx?: BackendTransaction,
  ): Promise<Array<StoredEntity | undefined>> {
    this.#alive();
    return this.#inner.lookup(keys, tx);
  }

  async commit(mutations: readonly Mutation[], tx?: BackendTransaction): Promise<void> {
    this.#alive();
    if (this.#commitsLeft <= 0) {
      this.crashed = true;
      if (tx !== undefined) await this.#inner.rollback(tx).catch(() => undefined);
      throw new StoreUnavailableError('Simulated crash at this commit: nothing of it was written.');
    }
    this.#commitsLeft -= 1;
    return this.#inner.commit(mutations, tx);
  }

  async rollback(tx: BackendTransaction): Promise<void> {
    if (!this.crashed) await this.#inner.rollback(tx);
  }

  async query(query: BackendQuery): Promise<Array<{ key: Key; entity: StoredEntity }>> {
    this.#alive();
    return this.#inner.query(query);
  }

  async close(): Promise<void> {
    // The inner store belongs to the test environment, which closes it.
  }
}
