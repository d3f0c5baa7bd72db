import type { CounterStatus, SettableCounterStatus } from './counter-status.js';

/** A counter as `getCounter` reports it. */
export interface Counter {
  /** The counter's name. */
  readonly name: string;
  /** Free text for people. */
  readonly description: string;
  /** Number of shards the count is spread over (while shrinking: the shards still holding counts). */
  readonly numShards: number;
  /** Current status. */
  readonly status: CounterStatus;
  /** The total: the sum of all shards; 0 while `DELETING` or `RESETTING`. */
  readonly count: number;
  /** When the counter was created. */
  readonly createdAt: Date;
  /** When its metadata (not its count) last changed. */
  readonly updatedAt: Date;
}

/** What an increment or decrement did. */
export interface CounterOperation {
  /** Unique id of the operation (uuid v4). */
  readonly id: string;
  /** The counter it applied to. */
  readonly counterName: string;
  /** The shard it touched first (a decrement may go on to others). */
  readonly shardIndex: number;
  /** `INCREMENT` or `DECREMENT`. */
  readonly type: 'INCREMENT' | 'DECREMENT';
  /** Amount really added or removed: for a decrement, what the shards held, up to the amount asked. */
  readonly appliedAmount: number;
  /** When it was applied. */
  readonly createdAt: Date;
  /** Whether this operation created the counter. */
  readonly counterCreated: boolean;
  /**
   * True when an earlier operation with the same idempotency key had already been applied and
   * this call returned it without applying anything.
   */
  readonly replayed: boolean;
}

/** Options of `increment`. */
export interface IncrementOptions {
  /**
   * `true` (default): run in a transaction of its own, even inside a caller's transaction.
   * `false`: join the caller's ambient transaction (`store.transact` on the service's store),
   * so the increment commits or rolls back with the caller's other writes; the cached total is
   * adjusted after that commit. Outside a transaction, `false` runs one of its own.
   */
  readonly isolated?: boolean;
  /**
   * Names the operation: a second call with the same key on the same counter applies nothing
   * and returns the first operation, also when the first call ended in an
   * `AmbiguousCommitError`. At most 1500 UTF-8 bytes.
   */
  readonly idempotencyKey?: string;
}

/** Options of `decrement`. */
export interface DecrementOptions {
  /**
   * `upTo` (default): remove up to `amount`, shard by shard, each in its own transaction;
   * `appliedAmount` says how much was there. `exact`: remove exactly `amount` in one
   * transaction, or nothing (`InsufficientCountError`).
   */
  readonly mode?: 'upTo' | 'exact';
  /**
   * `false` joins the caller's ambient transaction (as for increments; the cached total is
   * adjusted after that commit); the whole decrement is then one transaction over the shards
   * it needs, in either mode. Default `true`.
   */
  readonly isolated?: boolean;
  /**
   * As for increments. Only for decrements that run as one transaction: `mode: 'exact'` or
   * `isolated: false`.
   */
  readonly idempotencyKey?: string;
}

/** Options of `getCounter`. */
export interface GetCounterOptions {
  /** Read the shards from the store even when the cache holds the total. Default `false`. */
  readonly skipCache?: boolean;
}

/** Options of `createCounter`. */
export interface CreateCounterOptions {
  /** Number of shards, 1 to `MAX_SHARDS`; the service's `numInitialShards` by default. */
  readonly numShards?: number;
  /** Free text, at most 1500 UTF-8 bytes. Default empty. */
  readonly description?: string;
}

/** Options of `updateCounter`; fields left out are unchanged. */
export interface UpdateCounterOptions {
  /**
   * New shard count, 1 to `MAX_SHARDS`. Growing is immediate (new shards start empty);
   * shrinking moves the removed shards' counts into the kept ones, transactionally, so the
   * total never changes.
   */
  readonly numShards?: number;
  /** New description, at most 1500 UTF-8 bytes. */
  readonly description?: string;
  /** `AVAILABLE` or `READ_ONLY_COUNT`. */
  readonly status?: SettableCounterStatus;
}

/** Names of the counters `resumeInterrupted` finished, by kind of work. */
export interface ResumeReport {
  /** Counters whose deletion was finished. */
  readonly deleted: readonly string[];
  /** Counters whose shard reduction was finished. */
  readonly shardChanges: readonly string[];
  /** Counters whose reset was finished. */
  readonly resets: readonly string[];
  /** Counters whose interrupted fence (a status change's stamping of the shards) was finished. */
  readonly fences: readonly string[];
}
