/**
 * What this process knows about one key, as returned by {@link LocalCache.peek}. The value
 * is wrapped so that a cached `undefined` is distinguishable from no entry.
 */
export interface LocalEntry<V> {
  /** The value the provider returned; may be `undefined` or `null`. */
  readonly value: V;
  /**
   * The version tag read before the value was loaded; `undefined` when it was loaded while
   * the tag store was unavailable (it will be reloaded once the store answers again).
   */
  readonly tag: string | undefined;
  /** When the provider was called, on the cache's clock (milliseconds). */
  readonly loadedAt: number;
  /**
   * Time (on the cache's clock, milliseconds) as of which the value is known current: the
   * start of the last tag read that matched, or of the load while the tag store was down.
   */
  readonly checkedAt: number;
}
