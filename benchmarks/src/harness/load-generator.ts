/** How much load one measurement applies and when it stops. */
export interface LoadSpec {
  /** Operations kept in flight at once (independent async workers). */
  readonly concurrency: number;
  /** Stop issuing operations after this many. */
  readonly maxOps: number;
  /** Stop issuing operations after this long; operations in flight still finish. */
  readonly maxTimeMs: number;
  /** One operation; `index` counts from 0. May return a promise or a plain value. */
  readonly op: (index: number) => unknown;
  /** Called at most every `PROGRESS_INTERVAL_MS` with the operations finished so far. */
  readonly onProgress?: (finished: number, elapsedMs: number) => void;
  /** Stops issuing operations (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** What a measurement saw. */
export interface LoadResult {
  /** Operations that completed without error. */
  readonly ops: number;
  /** Operations that threw or rejected. */
  readonly errors: number;
  /** From the first operation issued to the last one settled. */
  readonly elapsedMs: number;
  /** Latency of each successful operation, in milliseconds; only the first `ops` are set. */
  readonly latenciesMs: Float64Array;
  /** The first error seen, to show what failed. */
  readonly firstError: unknown;
}

const PROGRESS_INTERVAL_MS = 100;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Runs `op` from `concurrency` workers until `maxOps` operations were issued or `maxTimeMs`
 * passed, timing each operation. Synchronous operations are not awaited, so a plain
 * in-memory `get` is measured without a promise tick it does not have.
 */
export async function generateLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies = new Float64Array(spec.maxOps);
  const start = performance.now();
  const deadline = start + spec.maxTimeMs;
  let issued = 0;
  let ops = 0;
  let errors = 0;
  let firstError: unknown;
  let lastProgress = start;

  const keepGoing = (now: number): boolean =>
    issued < spec.maxOps && now < deadline && spec.signal?.aborted !== true;

  const worker = async (): Promise<void> => {
    let now = performance.now();
    while (keepGoing(now)) {
      const index = issued++;
      const began = now;
      try {
        const result = spec.op(index);
        if (isPromiseLike(result)) await result;
        now = performance.now();
        latencies[ops++] = now - began;
      } catch (error) {
        now = performance.now();
        errors++;
        firstError ??= error;
      }
      if (spec.onProgress !== undefined && now - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = now;
        spec.onProgress(ops + errors, now - start);
      }
    }
  };

  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  return {
    ops,
    errors,
    elapsedMs: performance.now() - start,
    latenciesMs: latencies,
    firstError,
  };
}
