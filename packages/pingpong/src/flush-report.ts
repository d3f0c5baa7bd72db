import type { EpochRange } from './epoch-schedule.js';

/** Options of {@link PingPongCounter.flush}. */
export interface FlushOptions {
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
  /** Epochs drained: ended at least `settleMs` ago and not yet expired. */
  readonly epochs: EpochRange;
  /** Failures, per counter where there is one. Empty when everything was drained. */
  readonly errors: readonly FlushFailure[];
}

/** Options of {@link PingPongCounter.startFlusher}. */
export interface FlusherOptions {
  /**
   * Wait between the end of one flush and the start of the next, in milliseconds (runs
   * never overlap). Keep it well under the slot TTL; `intervalMs` is a good choice.
   */
  readonly everyMs: number;
  /** Called with each flush's report, e.g. to log `errors`. */
  readonly onReport?: (report: FlushReport) => void;
}
