import type { CacheStore, EntityStore } from '@shardcount/storage';
import { describeValue, InvalidArgumentError } from '@shardcount/storage';

/**
 * What an increment does when memcached cannot be reached (`CacheUnavailableError`):
 * - `'write-through'`: add the delta to the durable count in a transaction; nothing is lost,
 *   but the increment costs a store transaction (and contends with others on the counter).
 * - `'drop'`: discard the increment and count it in {@link PingPongStats} as lost.
 * - `'throw'`: reject with the `CacheUnavailableError`.
 */
export type CacheUnavailablePolicy = 'write-through' | 'drop' | 'throw';

/** Options of {@link PingPongCounter}. */
export interface PingPongCounterOptions {
  /** Where increments are buffered (memcached in production). */
  readonly cache: CacheStore;
  /** Where durable counts and their watermarks live (Datastore in production). */
  readonly store: EntityStore;
  /**
   * Length of a slot's epoch, in milliseconds; also the accuracy window (see the README).
   * At least 1000. Default 600,000 (ten minutes).
   */
  readonly intervalMs?: number;
  /**
   * Prefix of every memcache key and part of every entity key, so several independent
   * sets of counters can share a cache and a store. 1 to 100 characters of `A-Z a-z 0-9 . _ -`,
   * not starting with `_`. Default `pingpong`.
   */
  readonly namespace?: string;
  /** What an increment does while memcached is unreachable. Default `'write-through'`. */
  readonly onCacheUnavailable?: CacheUnavailablePolicy;
  /**
   * Slots are created with a TTL of this many intervals (whole seconds, rounded up), so
   * memcache holds at most a few slots per counter. Every epoch must be flushed within this
   * time after it ends or it is lost. Integer, at least 2. Default 3.
   */
  readonly slotTtlIntervals?: number;
  /**
   * How long after an epoch ends before a flush drains it, in milliseconds, so that
   * increments in flight when it ended (or from processes whose clocks run a little slow)
   * land first. Late increments are still moved by a later flush; this only makes it rare.
   * At least 0 and below `intervalMs`. Default: the smaller of 10,000 and `intervalMs / 4`.
   */
  readonly settleMs?: number;
  /**
   * How long the first increment of a new name in this process waits before its registry
   * entry is written (batched with others), in milliseconds. Default 1000.
   */
  readonly registrationDelayMs?: number;
  /**
   * How many names this process remembers as registered, so that it does not register them
   * again. Forgetting a name only costs one extra lookup. Default 10,000.
   */
  readonly maxRememberedNames?: number;
  /** Counters a flush drains in parallel (one transaction each). Default 8. */
  readonly flushConcurrency?: number;
  /**
   * The clock, in milliseconds since the epoch. Default `Date.now`. Tests pass a fake one;
   * all processes writing the same counters must agree within `intervalMs / 2`.
   */
  readonly now?: () => number;
}

/** {@link PingPongCounterOptions} with defaults applied and checked. */
export interface ResolvedOptions {
  readonly cache: CacheStore;
  readonly store: EntityStore;
  readonly intervalMs: number;
  readonly namespace: string;
  readonly onCacheUnavailable: CacheUnavailablePolicy;
  readonly slotTtlSeconds: number;
  readonly settleMs: number;
  readonly registrationDelayMs: number;
  readonly maxRememberedNames: number;
  readonly flushConcurrency: number;
  readonly now: () => number;
}

const POLICIES: readonly CacheUnavailablePolicy[] = ['write-through', 'drop', 'throw'];
const NAMESPACE_PATTERN = /^[A-Za-z0-9.-][A-Za-z0-9._-]{0,99}$/;

/** Applies defaults and validates every option; throws `InvalidArgumentError`. */
export function resolveOptions(options: PingPongCounterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      `PingPongCounter options must be an object, got ${describeValue(options)}.`,
    );
  }
  const { cache, store } = options;
  if (typeof cache !== 'object' || cache === null || typeof cache.incr !== 'function') {
    throw new InvalidArgumentError('PingPongCounter needs a `cache` (a CacheStore).');
  }
  if (typeof store !== 'object' || store === null || typeof store.transactNew !== 'function') {
    throw new InvalidArgumentError('PingPongCounter needs a `store` (an EntityStore).');
  }
  const intervalMs = integerOption('intervalMs', options.intervalMs, 600_000, 1000);
  const namespace = options.namespace ?? 'pingpong';
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    throw new InvalidArgumentError(
      `namespace must be 1 to 100 characters of A-Z a-z 0-9 . _ - not starting with "_", got ${describeValue(namespace)}.`,
    );
  }
  const onCacheUnavailable = options.onCacheUnavailable ?? 'write-through';
  if (!POLICIES.includes(onCacheUnavailable)) {
    throw new InvalidArgumentError(
      `onCacheUnavailable must be one of ${POLICIES.map((p) => `'${p}'`).join(', ')}, got ${describeValue(onCacheUnavailable)}.`,
    );
  }
  const slotTtlIntervals = integerOption('slotTtlIntervals', options.slotTtlIntervals, 3, 2);
  const slotTtlSeconds = Math.ceil((slotTtlIntervals * intervalMs) / 1000);
  const settleMs = integerOption(
    'settleMs',
    options.settleMs,
    Math.min(10_000, Math.floor(intervalMs / 4)),
    0,
  );
  if (settleMs >= intervalMs) {
    throw new InvalidArgumentError(
      `settleMs (${settleMs}) must be below intervalMs (${intervalMs}).`,
    );
  }
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') {
    throw new InvalidArgumentError(
      `now must be a function returning milliseconds, got ${describeValue(now)}.`,
    );
  }
  return {
    cache,
    store,
    intervalMs,
    namespace,
    onCacheUnavailable,
    slotTtlSeconds,
    settleMs,
    registrationDelayMs: integerOption('registrationDelayMs', options.registrationDelayMs, 1000, 0),
    maxRememberedNames: integerOption('maxRememberedNames', options.maxRememberedNames, 10_000, 1),
    flushConcurrency: integerOption('flushConcurrency', options.flushConcurrency, 8, 1),
    now,
  };
}

/** Checks an optional whole-number option with a lower bound; returns it or its default. */
export function integerOption(
  option: string,
  value: unknown,
  fallback: number,
  min: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `${option} must be a whole number of at least ${min}, got ${describeValue(value)}.`,
    );
  }
  return value;
}
