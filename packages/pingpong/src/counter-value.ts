/** What {@link PingPongCounter.get} returns. */
export interface CounterValue {
  /** The flushed count, as stored durably. */
  readonly durable: number;
  /**
   * What waits in memcache beyond the watermarks (increments minus decrements not yet
   * flushed); 0 when memcache could not be read (see `pendingKnown`).
   */
  readonly pending: number;
  /** `durable + pending`: the best estimate of the count. */
  readonly total: number;
  /** Whether memcache answered; `false` means `pending` is unknown and shown as 0. */
  readonly pendingKnown: boolean;
}

/** How an increment was recorded. */
export type IncrementOutcome =
  /** Added to the active memcache slot (the normal case). */
  | 'cached'
  /** memcached was unavailable and the delta was added to the durable count directly. */
  | 'written-through'
  /** memcached was unavailable and the delta was discarded (counted in stats as lost). */
  | 'dropped'
  /** The delta was 0: nothing to do, no I/O. */
  | 'noop';

/** Counters of what one {@link PingPongCounter} instance did since it was created. */
export interface PingPongStats {
  /** Increments added to memcache slots. */
  readonly cached: number;
  /** Increments written to the durable count because memcached was unavailable. */
  readonly writtenThrough: number;
  /** Increments discarded because memcached was unavailable (policy `'drop'`). */
  readonly lostIncrements: number;
  /** Net amount of those discarded increments. */
  readonly lostAmount: number;
  /** Cache calls that failed with `CacheUnavailableError`. */
  readonly cacheFailures: number;
  /** Names this instance registered durably. */
  readonly registrations: number;
  /** Registration rounds that failed (they are retried). */
  readonly registrationFailures: number;
  /** Flushes run. */
  readonly flushes: number;
  /** Failures reported by those flushes. */
  readonly flushFailures: number;
  /** Epochs (counted per counter) whose slots those flushes found lost by memcache. */
  readonly lostEpochs: number;
  /** Counters those flushes marked idle. */
  readonly idled: number;
}
