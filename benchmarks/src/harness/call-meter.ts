/** Backend calls seen so far, by call name. */
export type CallCounts = Readonly<Record<string, number>>;

/** A reading of the counters a case is charged with. */
export interface MeterReading {
  /** Entity store backend calls; `undefined` when the case uses no entity store. */
  readonly store: CallCounts | undefined;
  /** Cache calls (each one memcached round trip); `undefined` when the case uses no cache. */
  readonly cache: CallCounts | undefined;
  /** Transactions retried after contention. */
  readonly retries: number;
}

/** Something a case can read its costs from, before and after the measurement. */
export interface CallMeter {
  read(): MeterReading;
}

/**
 * Entity store calls that are a round trip to the server. `beginTransaction` is left out:
 * Datastore begins a transaction with its first lookup (the adapter sends no RPC for it).
 */
export const STORE_ROUND_TRIP_CALLS: readonly string[] = ['lookup', 'commit', 'rollback', 'query'];

/** `after - before`, per call name. */
export function diffCounts(after: CallCounts, before: CallCounts): Record<string, number> {
  const diff: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) diff[name] = value - (before[name] ?? 0);
  return diff;
}

/** Sum of the counts of `names` (all of them when absent). */
export function sumCounts(counts: CallCounts, names?: readonly string[]): number {
  let sum = 0;
  for (const [name, value] of Object.entries(counts)) {
    if (names === undefined || names.includes(name)) sum += value;
  }
  return sum;
}

/** A meter over plain counters the case increments itself (raw clients, in-process caches). */
export class ManualMeter implements CallMeter {
  readonly #cache: Record<string, number> | undefined;

  /** @param cacheCalls - names of the cache calls to count, or `undefined` for no cache */
  constructor(cacheCalls: readonly string[] | undefined) {
    this.#cache =
      cacheCalls === undefined ? undefined : Object.fromEntries(cacheCalls.map((c) => [c, 0]));
  }

  /** Counts one cache call. */
  countCache(call: string): void {
    if (this.#cache !== undefined) this.#cache[call] = (this.#cache[call] ?? 0) + 1;
  }

  read(): MeterReading {
    return {
      store: undefined,
      cache: this.#cache === undefined ? undefined : { ...this.#cache },
      retries: 0,
    };
  }
}
