import type {
  CallOptions,
  DeadlineExceededError,
  OperationAbortedError,
} from '@shardcount/storage';
import type { EpochRange } from './epoch-schedule.js';

/**
 * Options of {@link PingPongCounter.flush}. With `signal` or `timeoutMs` (see
 * `CallOptions`), an abort stops the flush between counters; the report says what it did.
 */
export interface FlushOptions extends CallOptions {
  /**
   * Drain only these counters (registered or not). Absent: every counter of the namespace
   * in the registry, plus names this process has seen but not registered yet.
   */
  readonly names?: readonly string[];
}

/** One failure during a flush. The flush carries on with the other counters. */
export interface FlushFailure {
  /** The counter it is about; absent when the registry itself could not be read. */
  readonly name?: string;
  /** What went wrong, e.g. `StoreUnavailableError`, `AmbiguousCommitError`, `CacheUnavailableError`. */
  readonly error: Error;
}

/**
 * Counts memcache lost before a flush could move them, as one flush detected them for one
 * counter. memcached does not say how much a lost slot held beyond what was already drained,
 * so the amount is unknown; increments that re-created the slot afterwards are not lost (the
 * flush moves them).
 */
export interface CounterLoss {
  /** The counter. */
  readonly name: string;
  /**
   * Open epochs whose slots were found gone, or re-created below what was already drained
   * from them: the increments they held beyond their watermarks were lost.
   */
  readonly epochs: readonly number[];
}

/**
 * What a flush did. A counter listed in `errors` had nothing moved by this flush, or (after
 * an `AmbiguousCommitError`) possibly everything: either way the next flush moves exactly
 * what is still missing, never anything twice.
 */
export interface FlushReport {
  /** Counters examined. */
  readonly counters: number;
  /** Counters whose durable count changed. */
  readonly flushed: number;
  /** Net amount moved into durable counts (increments minus decrements). */
  readonly moved: number;
  /**
   * Epochs read: from the oldest open epoch of the counters examined to the newest one that
   * ended at least `settleMs` ago (empty when nothing was read).
   */
  readonly epochs: EpochRange;
  /** Counters this flush marked idle (skipped by later flushes until incremented again). */
  readonly idled: number;
  /** Losses detected, one entry per counter; empty when memcache lost nothing that a flush can see. */
  readonly lost: readonly CounterLoss[];
  /** Failures, per counter where there is one. Empty when everything was drained. */
  readonly errors: readonly FlushFailure[];
  /**
   * Present when the flush's `signal` aborted or its deadline passed before it was done: the
   * typed error (`OperationAbortedError` or `DeadlineExceededError`). What was moved before
   * stays moved; every counter left out is in `errors`, with this error (nothing moved for
   * it) or an `AmbiguousCommitError` caused by it (its commit was in flight).
   */
  readonly aborted?: OperationAbortedError | DeadlineExceededError;
}

/** Options of {@link PingPongCounter.startFlusher}. */
export interface FlusherOptions {
  /**
   * Wait between the end of one flush and the start of the next, in milliseconds (runs
   * never overlap). `intervalMs` is a good choice: each epoch is then drained once while
   * open and closed by the flush after.
   */
  readonly everyMs: number;
  /** Called with each flush's report, e.g. to log `errors`. */
  readonly onReport?: (report: FlushReport) => void;
}
