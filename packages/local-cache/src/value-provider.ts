/**
 * What a value provider receives besides its key(s).
 */
export interface LoadContext {
  /**
   * Aborts when every read waiting on this load has given up (its own `signal` aborted or
   * its deadline passed), so the provider can stop work nobody will use. A load some read
   * still waits for is never aborted: one caller leaving does not cancel it for the others.
   * Its `reason` is the last leaving read's `OperationAbortedError` or `DeadlineExceededError`.
   */
  readonly signal: AbortSignal;
}

/**
 * Loads the value of one key from the source of truth (a database, a file, a service).
 * Called at most once at a time per key and version in a process; may return `undefined`
 * or `null`, which are cached like any other value. `context.signal` tells it when nobody
 * waits for the result any more.
 */
export type ValueProvider<V> = (key: string, context: LoadContext) => V | PromiseLike<V>;

/**
 * Loads the values of several keys in one call, for {@link LocalCache.getMany}. Receives the
 * keys that need a load (distinct, never empty) and returns a `Map` from key to value. A
 * requested key absent from the map is cached as `undefined`, like a {@link ValueProvider}
 * that returned `undefined`; keys that were not requested are ignored. `context.signal`
 * aborts when no read waits for any of these keys any more.
 */
export type ManyValuesProvider<V> = (
  keys: readonly string[],
  context: LoadContext,
) => ReadonlyMap<string, V> | PromiseLike<ReadonlyMap<string, V>>;
