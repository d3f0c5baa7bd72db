/**
 * Loads the value of one key from the source of truth (a database, a file, a service).
 * Called at most once at a time per key and version in a process; may return `undefined`
 * or `null`, which are cached like any other value.
 */
export type ValueProvider<V> = (key: string) => V | PromiseLike<V>;

/**
 * Loads the values of several keys in one call, for {@link LocalCache.getMany}. Receives the
 * keys that need a load (distinct, never empty) and returns a `Map` from key to value. A
 * requested key absent from the map is cached as `undefined`, like a {@link ValueProvider}
 * that returned `undefined`; keys that were not requested are ignored.
 */
export type ManyValuesProvider<V> = (
  keys: readonly string[],
) => ReadonlyMap<string, V> | PromiseLike<ReadonlyMap<string, V>>;
