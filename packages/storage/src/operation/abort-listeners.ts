/** Callbacks waiting for each signal's abort, behind one native listener per signal. */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` once when `signal` aborts; returns a function that stops waiting.
 *
 * Every waiter of a signal shares one native `abort` listener: a caller who hands the same
 * signal (a request's, a shutdown signal) to hundreds of concurrent calls must not see
 * Node's `MaxListenersExceededWarning`, nor pay a listener per call. The caller checks
 * `signal.aborted` first; a signal already aborted never calls back.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = waiting.get(signal);
  if (callbacks === undefined) {
    const created = new Set<() => void>();
    callbacks = created;
    waiting.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        waiting.delete(signal);
        for (const waiter of created) waiter();
        created.clear();
      },
      { once: true },
    );
  }
  const callbacksOfSignal = callbacks;
  callbacksOfSignal.add(callback);
  return () => {
    callbacksOfSignal.delete(callback);
  };
}
