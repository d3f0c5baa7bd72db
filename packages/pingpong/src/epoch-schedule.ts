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
 * increments go to the slot of epoch `e`. All decisions about which slot may still grow,
 * which may be drained and which has surely expired are made here, from one clock reading,
 * so they stay consistent with each other.
 */
export class EpochSchedule {
  /** Length of an epoch, in milliseconds. */
  readonly intervalMs: number;
  /** TTL a slot is created with, in whole seconds. */
  readonly slotTtlSeconds: number;
  /** How long after its end an epoch waits before it is drained, in milliseconds. */
  readonly settleMs: number;
  /**
   * Longest time a slot can outlive the end of its epoch, in milliseconds: its TTL counted
   * from the latest moment it can be created (the end of its epoch), plus one second for
   * memcached's whole-second expiry clock.
   */
  readonly slotLifetimeMs: number;

  /**
   * @param intervalMs - epoch length in milliseconds
   * @param slotTtlSeconds - TTL of a slot in seconds
   * @param settleMs - wait after an epoch ends before draining it, in milliseconds
   */
  constructor(intervalMs: number, slotTtlSeconds: number, settleMs: number) {
    this.intervalMs = intervalMs;
    this.slotTtlSeconds = slotTtlSeconds;
    this.settleMs = settleMs;
    this.slotLifetimeMs = slotTtlSeconds * 1000 + 1000;
  }

  /** The epoch a clock reading of `nowMs` falls in: increments at that time go there. */
  epochAt(nowMs: number): number {
    return Math.floor(nowMs / this.intervalMs);
  }

  /**
   * Oldest epoch whose slot may still exist at `nowMs`. Its slot was created at the latest
   * when the epoch ended, so it is gone `slotLifetimeMs` after that. One more interval of
   * margin absorbs clock differences between processes (up to half an interval each way):
   * the watermark of an epoch is kept until no process can still see its slot, otherwise
   * a flusher with a slower clock could drain a slot whose watermark was already pruned.
   */
  firstLiveEpoch(nowMs: number): number {
    return Math.floor((nowMs - this.slotLifetimeMs) / this.intervalMs) - 1;
  }

  /**
   * Epochs a flush at `nowMs` drains: closed for at least `settleMs` (so increments still
   * in flight when the epoch ended have landed) and not yet surely expired.
   */
  drainableEpochs(nowMs: number): EpochRange {
    return {
      first: this.firstLiveEpoch(nowMs),
      last: Math.floor((nowMs - this.settleMs) / this.intervalMs) - 1,
    };
  }

  /**
   * Epochs whose slots may hold counts at `nowMs`, including the active one and the next
   * (a process whose clock runs ahead may already write there).
   */
  liveEpochs(nowMs: number): EpochRange {
    return { first: this.firstLiveEpoch(nowMs), last: this.epochAt(nowMs) + 1 };
  }
}

/** The epochs of `range`, oldest first. */
export function epochsOf(range: EpochRange): number[] {
  const epochs: number[] = [];
  for (let e = range.first; e <= range.last; e++) epochs.push(e);
  return epochs;
}
