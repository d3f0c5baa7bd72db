/** A call waiting for its answer, as {@link CallDeadlines} tracks it. */
export interface PendingCall {
  /** When it times out, on the `performance.now()` clock, in milliseconds. */
  readonly deadlineMs: number;
  /** Set once the call settled (answered or failed); the queue then forgets it. */
  settled: boolean;
  /** Fails the call with its timeout error; called at most once, never after `settled`. */
  expire(): void;
}

/**
 * One timer for every call in flight instead of one per call. All calls of a store share
 * one timeout, so their deadlines come in the order the calls were made: a FIFO queue
 * holds them, the timer is armed for the oldest call still waiting, and settled calls are
 * dropped when they reach the front. A call then costs a push, not a timer to create and
 * clear (most of the client-side cost of a call beyond the client itself).
 */
export class CallDeadlines {
  #queue: PendingCall[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Tracks a call; its deadline must not come before any tracked one. */
  add(call: PendingCall): void {
    this.#queue.push(call);
    if (this.#timer === undefined) this.#arm();
  }

  /**
   * Drops answered calls from the front. Answers mostly come in call order, so the queue
   * then holds about what is in flight and answered calls die young (cheap to collect).
   */
  trim(): void {
    const queue = this.#queue;
    while (this.#head < queue.length && queue[this.#head]!.settled) this.#head += 1;
    if (this.#head >= 1024) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Stops the timer; for a store with nothing in flight (closing), so nothing is lost. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#head = 0;
  }

  /** Expires what is due, drops what settled, and arms the timer for the next deadline. */
  #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    // Read the queue afresh each time: an expired call's settling trims (and may compact) it.
    while (this.#head < this.#queue.length) {
      const call = this.#queue[this.#head]!;
      if (!call.settled && call.deadlineMs > now) break;
      this.#head += 1;
      if (!call.settled) call.expire();
    }
    this.#arm();
  };

  #arm(): void {
    const queue = this.#queue;
    while (this.#head < queue.length && queue[this.#head]!.settled) this.#head += 1;
    if (this.#head >= queue.length) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#queue[this.#head]!;
    this.#timer = setTimeout(this.#fire, Math.max(0, next.deadlineMs - performance.now()));
    // A call in flight holds its socket, which keeps the process alive; the timer need not.
    this.#timer.unref();
  }
}
