import type { CallOptions } from '@shardcount/storage';
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
export interface IncrementOptions extends CallOptions {
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
export interface DecrementOptions extends CallOptions {
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

/**
 * Options of `reset`, `resumeDeletions` and `resumeInterrupted`: a `signal` and `timeoutMs`
 * (`CallOptions` from `@shardcount/storage`).
 */
export type OperationOptions = CallOptions;

/** Options of `getCounter`. */
export interface GetCounterOptions extends CallOptions {
  /** Read the shards from the store even when the cache holds the total. Default `false`. */
  readonly skipCache?: boolean;
}

/** Options of `createCounter`. */
export interface CreateCounterOptions extends CallOptions {
  /** Number of shards, 1 to `MAX_SHARDS`; the service's `numInitialShards` by default. */
  readonly numShards?: number;
  /** Free text, at most 1500 UTF-8 bytes. Default empty. */
  readonly description?: string;
}

/** Options of `delete`. */
export interface DeleteOptions extends CallOptions {
  /**
   * `true` (default): return once the counter and everything it owns are gone. `false`:
   * return once the counter is marked `DELETING` (its count reads 0, changes are refused,
   * `getCounter` shows the status); the removal goes on in the background of this process.
   * A failure there is reported through the `deletionFailed` event (never an unhandled
   * rejection) and leaves the counter `DELETING` for `resumeDeletions()`; `close()` waits for
   * background deletions.
   */
  readonly wait?: boolean;
}

/** Options of `updateCounter`; fields left out are unchanged. */
export interface UpdateCounterOptions extends CallOptions {
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

/** A counter's metadata as `listCounters` reports it: no count (listing reads no shard). */
export interface CounterInfo {
  /** The counter's name. */
  readonly name: string;
  /** Free text for people. */
  readonly description: string;
  /** Number of shards (while shrinking: the shards still holding counts). */
  readonly numShards: number;
  /** Current status. */
  readonly status: CounterStatus;
  /** When the counter was created. */
  readonly createdAt: Date;
  /** When its metadata (not its count) last changed. */
  readonly updatedAt: Date;
}

/** Options of `listCounters`. */
export interface ListCountersOptions extends CallOptions {
  /**
   * Only counters whose name starts with this string (at most 1500 UTF-8 bytes; empty means
   * all). Counters with names of more than 1,498 bytes are stored under hashed keys and are
   * listed only without a prefix.
   */
  readonly prefix?: string;
  /** Only counters in this status. */
  readonly status?: CounterStatus;
  /** Most counters on the page: 1 to `MAX_LIST_LIMIT` (1000). Default 100. */
  readonly limit?: number;
  /**
   * Where to go on: the `cursor` of the previous page, with the same `prefix` and `status`.
   * Opaque; a string that no earlier page returned is refused with `InvalidArgumentError`.
   */
  readonly cursor?: string | undefined;
}

/** One page of {@link CounterInfo}. */
export interface CounterPage {
  /** The counters, ordered by name (UTF-8 byte order; hashed-key names first). */
  readonly counters: readonly CounterInfo[];
  /** Pass it as `cursor` to read the next page; `undefined` on the last page. */
  readonly cursor: string | undefined;
}
