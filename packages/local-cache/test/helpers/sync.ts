/** A promise with its resolve/reject exposed, to hold a provider until the test releases it. */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  open(value: T): void;
  fail(error: unknown): void;
}

/** Creates a {@link Gate}. */
export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  let fail!: (error: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

/**
 * Resolves every `arrive()` once `parties` callers have arrived. If they never all arrive
 * (the calls were serialised), it rejects after `guardMs` so the test fails instead of
 * hanging; the guard is a deadlock detector, not a timing assertion.
 */
export function barrier(parties: number, guardMs = 10_000): { arrive(): Promise<void> } {
  let arrived = 0;
  const all = gate();
  const guard = setTimeout(
    () => all.fail(new Error(`barrier: only ${arrived} of ${parties} parties arrived`)),
    guardMs,
  );
  return {
    arrive() {
      arrived += 1;
      if (arrived === parties) {
        clearTimeout(guard);
        all.open();
      }
      return all.promise;
    },
  };
}

/** A clock the test moves by hand, in milliseconds. */
export interface FakeClock {
  readonly now: () => number;
  advance(ms: number): void;
}

/** Creates a {@link FakeClock} starting at 1,000,000 ms. */
export function fakeClock(): FakeClock {
  let time = 1_000_000;
  return {
    now: () => time,
    advance(ms) {
      time += ms;
    },
  };
}

/** Lets every queued callback and settled promise run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
