/**
 * Counters of a {@link LocalCache} since it was created. Each key read (one per `get`, one
 * per distinct key of `getMany`) counts as exactly one of `hits`, `misses` or `staleServed`.
 */
export interface LocalCacheStats {
  /** Reads answered by a local entry that was current (or checked within `maxStalenessMs`). */
  readonly hits: number;
  /** Reads with no usable local entry: they started or joined a load. */
  readonly misses: number;
  /** Value provider calls (a `getMany` batch is one call). */
  readonly loads: number;
  /** Reads answered by an unverified local entry because the tag store was down (`'serve-stale'`). */
  readonly staleServed: number;
  /** Round trips that read version tags (`get` or `getMany` on the tag store). */
  readonly versionChecks: number;
  /**
   * Tag store failures (`CacheUnavailableError`) met by reads and invalidations. Value
   * provider failures are not counted here: they reach the caller.
   */
  readonly errors: number;
}
