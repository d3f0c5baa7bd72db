/**
 * The life-cycle states of a counter.
 *
 * - `AVAILABLE`: reads and writes.
 * - `READ_ONLY_COUNT`: reads only; increments, decrements and resets fail with
 *   `CounterNotMutableError`.
 * - `DELETING`: shards are being removed; the count reads 0 and every change fails.
 * - `RESETTING`: a reset too large for one transaction is zeroing shards in batches; the count
 *   reads 0 and every change fails until it finishes.
 * - `CHANGING_SHARDS`: a shard-count reduction too large for one step is moving counts from
 *   the removed shards into the kept ones. Reads stay exact; increments and decrements go on
 *   (increments only touch kept shards) unless the counter is read-only.
 *
 * Only `AVAILABLE` and `READ_ONLY_COUNT` can be set through `updateCounter`; the others are
 * entered and left by the service itself.
 */
export const CounterStatus = Object.freeze({
  /** Reads and writes. */
  AVAILABLE: 'AVAILABLE',
  /** Reads only: increments, decrements and resets fail with `CounterNotMutableError`. */
  READ_ONLY_COUNT: 'READ_ONLY_COUNT',
  /** Being deleted: the count reads 0 and every change fails. */
  DELETING: 'DELETING',
  /** A batched reset is in progress: the count reads 0 and every change fails. */
  RESETTING: 'RESETTING',
  /** A shard reduction is in progress: reads stay exact, increments go to the kept shards. */
  CHANGING_SHARDS: 'CHANGING_SHARDS',
} as const);

/** One of the {@link CounterStatus} values. */
export type CounterStatus = (typeof CounterStatus)[keyof typeof CounterStatus];

/** The statuses a caller may set with `updateCounter`. */
export type SettableCounterStatus = 'AVAILABLE' | 'READ_ONLY_COUNT';
