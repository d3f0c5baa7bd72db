/** An inclusive range of epochs; empty when `first > last`. */
export interface EpochRange {
  /** Oldest epoch in the range. */
  readonly first: number;
  /** Newest epoch in the range. */
  readonly last: number;
}

/**
 * The time arithmetic of the ping-pong counter. Time is cut into epochs of `intervalMs`;
 * epoch `e` covers `[e * intervalMs, (e + 1) * intervalMs)` of the process clock, and its
 * increments go to the slot of epoch `e`. An ended epoch goes through two stages:
 *
 * - **draining**, from `settleMs` after its end: flushes move what its slots hold beyond
 *   their watermarks, so increments that arrive late (a slow clock, a slow network) are
 *   still moved by a later flush;
 * - **closed**, from `intervalMs + settleMs` after its end (one more interval: the clock
 *   skew the counter tolerates): the next flush that drains it closes it for good. Its
 *   watermarks are dropped and it is never read or moved again, so a flush only ever reads
 *   the few epochs that are still open, whatever the retention.
 *
 * All decisions are made from one clock reading, taken before the slots are read.
 */
export class EpochSchedule {
  /** Length of an epoch, in milliseconds. */
  readonly intervalMs: number;
  /** How long after its end an epoch waits before it is drained, in milliseconds. */
  readonly settleMs: number;

  /**
   * @param intervalMs - epoch length in milliseconds
   * @param settleMs - wait after an epoch ends before draining it, in milliseconds
   */
  constructor(intervalMs: number, settleMs: number) {
    this.intervalMs = intervalMs;
    this.settleMs = settleMs;
  }

  /** The epoch a clock reading of `nowMs` falls in: increments at that time go there. */
  epochAt(nowMs: number): number {
    return Math.floor(nowMs / this.intervalMs);
  }

  /** Newest epoch a flush at `nowMs` drains: ended at least `settleMs` ago. */
  lastDrainable(nowMs: number): number {
    return Math.floor((nowMs - this.settleMs) / this.intervalMs) - 1;
  }

  /**
   * Newest epoch a flush at `nowMs` closes: ended at least `intervalMs + settleMs` ago. An
   * increment that reaches memcached later than that after its epoch's end may land after
   * the closing read and is then not counted (see the README's closed-epoch rule).
   */
  lastClosable(nowMs: number): number {
    return this.lastDrainable(nowMs) - 1;
  }

  /**
   * Newest epoch that may hold increments at `nowMs`: the next one, since a process whose
   * clock runs ahead may already write there.
   */
  lastWritable(nowMs: number): number {
    return this.epochAt(nowMs) + 1;
  }
}

/** The epochs of `range`, oldest first. */
export function epochsOf(range: EpochRange): number[] {
  const epochs: number[] = [];
  for (let e = range.first; e <= range.last; e++) epochs.push(e);
  return epochs;
}
