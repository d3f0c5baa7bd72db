import {
  BackendEntityStore,
  type BackendQuery,
  type BackendTransaction,
  type EntityBackend,
  type EntityBackendLimits,
  type Key,
  type Mutation,
  type StoredEntity,
} from '@shardcount/storage';

/** A held commit: `reached` resolves when the transaction has read and is about to commit. */
export interface CommitGate {
  /** Resolves once the held transaction's commit has been called (its reads are done). */
  readonly reached: Promise<void>;
  /** Lets the held commit go on. */
  release(): void;
}

/**
 * A store over another store's data that can hold one transaction between its reads and its
 * commit, so a test can run another operation in exactly that window (an interleaving).
 */
export class GatedEntityStore extends BackendEntityStore {
  readonly #backend: GatedBackend;

  constructor(inner: BackendEntityStore) {
    const backend = new GatedBackend(inner.backend);
    super(backend);
    this.#backend = backend;
  }

  /**
   * Holds the next transactional commit whose mutations include a key of `kind` (any commit
   * when absent) until the gate is released.
   */
  holdNextCommit(kind?: string): CommitGate {
    return this.#backend.hold(kind);
  }

  /**
   * Holds the next commit (in a transaction or not) that deletes an entity of `kind`, until
   * the gate is released.
   */
  holdNextDelete(kind: string): CommitGate {
    return this.#backend.hold(kind, 'delete');
  }
}

class GatedBackend implements EntityBackend {
  readonly description: string;
  readonly limits: EntityBackendLimits;
  readonly #inner: EntityBackend;
  #held:
    | {
        kind: string | undefined;
        only: 'delete' | undefined;
        reached: () => void;
        released: Promise<void>;
      }
    | undefined;

  constructor(inner: EntityBackend) {
    this.#inner = inner;
    this.description = `gated(${inner.description})`;
    this.limits = inner.limits;
  }

  hold(kind: string | undefined, only?: 'delete'): CommitGate {
    let reached: () => void = () => undefined;
    let release: () => void = () => undefined;
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held = { kind, only, reached, released };
    return { reached: reachedPromise, release };
  }

  beginTransaction(): Promise<BackendTransaction> {
    return this.#inner.beginTransaction();
  }

  lookup(keys: readonly Key[], tx?: BackendTransaction): Promise<Array<StoredEntity | undefined>> {
    return this.#inner.lookup(keys, tx);
  }

  async commit(mutations: readonly Mutation[], tx?: BackendTransaction): Promise<void> {
    const held = this.#held;
    const matches =
      held === undefined
        ? false
        : held.only === 'delete'
          ? mutations.some((m) => m.type === 'delete' && m.key.kind === held.kind)
          : tx !== undefined &&
            (held.kind === undefined || mutations.some((m) => m.key.kind === held.kind));
    if (held !== undefined && matches) {
      this.#held = undefined;
      held.reached();
      await held.released;
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
