import type { EntityValue } from './entity-value.js';
import type { Key } from './key.js';

/** A stored entity as a backend sees it: validated, plain data. */
export type StoredEntity = Record<string, EntityValue>;

/** A write that creates or replaces an entity. */
export interface UpsertMutation {
  /** Discriminant. */
  readonly type: 'upsert';
  /** The entity's key. */
  readonly key: Key;
  /** The full new entity. */
  readonly entity: StoredEntity;
}

/** A write that removes an entity (a no-op when it is missing). */
export interface DeleteMutation {
  /** Discriminant. */
  readonly type: 'delete';
  /** The entity's key. */
  readonly key: Key;
}

/** One write of a commit. */
export type Mutation = UpsertMutation | DeleteMutation;

/** One row a backend query returns. */
export interface QueryRow {
  /** The entity's key. */
  readonly key: Key;
  /** The entity's data. */
  readonly entity: StoredEntity;
}

/** An open backend transaction; opaque to everyone but the backend that made it. */
export interface BackendTransaction {
  /** Identifier for logs and error messages. */
  readonly id: string;
}

/** What one backend call may carry. Callers of a backend must stay within these. */
export interface EntityBackendLimits {
  /** Most keys one `lookup` may ask for (Datastore: 1000). */
  readonly maxLookupKeys: number;
  /** Most mutations one `commit` may carry (Datastore: 500). */
  readonly maxMutationsPerCommit: number;
}

/** An equality filter on one top-level property. */
export interface PropertyFilter {
  /** Property name. */
  readonly property: string;
  /** Value the property must equal. */
  readonly value: string | number | boolean | null;
}

/**
 * A query a backend answers: one kind, equality filters, an optional key-name range, a
 * result limit; rows ordered by key name (UTF-8 byte order, see `compareKeyNames`).
 */
export interface BackendQuery {
  /** Kind to read. */
  readonly kind: string;
  /** All must match (AND). */
  readonly filters: readonly PropertyFilter[];
  /** Only keys whose name starts with this; every key when absent or empty. */
  readonly keyPrefix?: string;
  /** Only keys whose name sorts strictly after this one (a key name). */
  readonly startAfter?: string;
  /** Most results to return; unlimited when absent. */
  readonly limit?: number;
}

/**
 * The primitive operations of a storage engine. {@link BackendEntityStore} builds the
 * Objectify-like API (ambient transactions, retries, chunking, validation) on top of these,
 * so a new storage engine only implements this interface.
 *
 * A backend maps its native failures to shardcount errors: a lost optimistic race to
 * `ContentionError`, an unreachable service to `StoreUnavailableError`, a commit whose
 * outcome is unknown to `AmbiguousCommitError`, an over-limit call to `LimitExceededError`.
 */
export interface EntityBackend {
  /** Human-readable name for messages, e.g. `datastore(project/namespace)`. */
  readonly description: string;
  /**
   * The backend's `db.system.name` for tracing (`gcp.datastore`, `memory`); `other` when
   * absent.
   */
  readonly system?: string;
  /** Per-call limits the store chunks to. */
  readonly limits: EntityBackendLimits;
  /** Starts a transaction. */
  beginTransaction(): Promise<BackendTransaction>;
  /**
   * Reads entities, results in the order of `keys` (`undefined` for a missing entity).
   * `keys` holds no duplicates and at most `limits.maxLookupKeys` keys.
   */
  lookup(
    keys: readonly Key[],
    transaction?: BackendTransaction,
  ): Promise<Array<StoredEntity | undefined>>;
  /**
   * Applies `mutations` atomically; with a transaction, commits it. At most
   * `limits.maxMutationsPerCommit` mutations, no two on the same key.
   */
  commit(mutations: readonly Mutation[], transaction?: BackendTransaction): Promise<void>;
  /** Abandons a transaction. Best-effort: the store ignores its failures. */
  rollback(transaction: BackendTransaction): Promise<void>;
  /**
   * Runs a non-transactional query, results ordered by key name in UTF-8 byte order (the
   * order of `compareKeyNames`), `keyPrefix` and `startAfter` applied before `limit`.
   */
  query(query: BackendQuery): Promise<QueryRow[]>;
  /** Releases connections. */
  close(): Promise<void>;
}
