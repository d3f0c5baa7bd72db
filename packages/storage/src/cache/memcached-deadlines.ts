// The per-call timeouts of a MemcachedCacheStore: one timer for every call in flight.
// Internal to MemcachedCacheStore.

/** A call in flight, as {@link DeadlineSweep} tracks it. */
export interface TimedCall {
  /** When it times out, on the `performance.now()` clock, in milliseconds. */
  readonly deadline: number;
  /** Whether it has been answered, failed or expired. */
  settled: boolean;
  /** Fails the call for its timeout (called once, after `settled` is set). */
  expire(): void;
}

/** Compact the queue once this many settled calls sit at its head. */
const COMPACT_AFTER = 1024;

/**
 * The per-call timeouts of one store, with one timer. Every call of a store has the same
 * timeout, so deadlines arrive in order: calls are appended to a queue, answered ones are
 * only flagged, and a single timer, set for the oldest unanswered call's deadline, expires
 * what is due and re-arms for the next. A call therefore still fails at its own deadline,
 * but the hot path sets no timer and clears none (a timer per call was most of the store's
 * overhead over raw memjs). The timer is unreferenced: it never keeps a process alive on its
 * own, and need not, since a call in flight always has its memjs socket (connecting or
 * connected) holding the event loop, and a socket that closes fails its calls at once (see
 * the socket guard).
 */
export class DeadlineSweep {
  #queue: TimedCall[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Number.POSITIVE_INFINITY;
  #pending = 0;
  #idleWaiters: Array<() => void> = [];

  /** Starts tracking `call`. */
  add(call: TimedCall): void {
    this.#queue.push(call);
    this.#pending++;
    if (call.deadline < this.#timerDue) this.#arm(call.deadline);
  }

  /** Stops tracking `call`: it has been answered or failed. */
  done(call: TimedCall): void {
    call.settled = true;
    // Answers mostly come in order: drop answered calls from the head at once, so the queue
    // holds about what is in flight and answered calls die young (cheap to collect).
    const queue = this.#queue;
    while (this.#head < queue.length && (queue[this.#head] as TimedCall).settled) this.#head++;
    if (this.#head >= COMPACT_AFTER) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    if (--this.#pending > 0) return;
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Resolves once no call is in flight. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerDue = deadline;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, deadline - performance.now()));
    this.#timer.unref();
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#timerDue = Number.POSITIVE_INFINITY;
    const now = performance.now();
    while (this.#head < this.#queue.length) {
      const call = this.#queue[this.#head] as TimedCall;
      if (!call.settled && call.deadline > now) break;
      this.#head++;
      if (!call.settled) {
        this.done(call);
        call.expire();
      }
    }
    if (this.#head >= COMPACT_AFTER || this.#head === this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    // Answered calls at the head are skipped: the timer waits for the oldest unanswered one.
    const next = this.#queue[this.#head];
    if (next !== undefined) this.#arm(next.deadline);
  }
}
