import type { CacheStore, EntityStore } from '@shardcount/storage';
import { describeValue, InvalidArgumentError } from '@shardcount/storage';
import type { CounterLoss } from './flush-report.js';

/** Default {@link PingPongCounterOptions.retentionMs}: 24 hours. */
export const DEFAULT_RETENTION_MS = 86_400_000;

/** memcached's longest relative TTL, in seconds (30 days); longer ones are absolute times. */
const MAX_RELATIVE_TTL_SECONDS = 2_592_000;

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
   * How long the counts of an ended epoch wait in memcache for a flush, in milliseconds:
   * a Datastore outage or missed flushes shorter than this lose nothing. Independent of
   * `intervalMs`; slots are created with a TTL that covers this much time after their
   * epoch ends, plus margin for memcached's whole-second expiry clock (a TTL of N seconds
   * can end after N − 1). Also how long a counter must see no increments before flushes
   * stop reading it (see the README's "Idle counters"). A whole number from
   * `4 × intervalMs` to 30 days minus `2 × intervalMs` (memcached's longest relative TTL).
   * Default 86,400,000 (24 hours).
   */
  readonly retentionMs?: number;
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
  /**
   * Called once for every counter whose flush found that memcache lost counts (a slot
   * gone or re-created below what was already drained), after the flush moved what was
   * left. The same losses are in the flush's `FlushReport.lost`, in `stats().lostEpochs`,
   * and on the `shardcount:events` diagnostics channel (event `lostEpochs`). Exceptions it
   * throws are ignored.
   */
  readonly onLoss?: (loss: CounterLoss) => void;
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
  readonly retentionMs: number;
  readonly slotTtlSeconds: number;
  readonly settleMs: number;
  readonly onLoss: ((loss: CounterLoss) => void) | undefined;
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
  if ('slotTtlIntervals' in options) {
    throw new InvalidArgumentError(
      'slotTtlIntervals was removed in 0.2: slots now live for retentionMs (default 24 h), independent of intervalMs.',
    );
  }
  const retentionMs = integerOption(
    'retentionMs',
    options.retentionMs,
    DEFAULT_RETENTION_MS,
    4 * intervalMs,
  );
  const slotTtlSeconds = slotTtlSecondsFor(retentionMs, intervalMs);
  if (slotTtlSeconds > MAX_RELATIVE_TTL_SECONDS) {
    throw new InvalidArgumentError(
      `retentionMs (${retentionMs}) is too long for intervalMs ${intervalMs}: slots would need a TTL of ${slotTtlSeconds} s, past memcached's 30-day (${MAX_RELATIVE_TTL_SECONDS} s) relative TTL.`,
    );
  }
  if (options.onLoss !== undefined && typeof options.onLoss !== 'function') {
    throw new InvalidArgumentError(
      `onLoss must be a function, got ${describeValue(options.onLoss)}.`,
    );
  }
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
    retentionMs,
    slotTtlSeconds,
    settleMs,
    onLoss: options.onLoss,
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

/**
 * The TTL a slot is created with, in whole seconds, so that it outlives the end of its epoch
 * by at least `retentionMs`. A slot is created by the first increment of its epoch, at the
 * earliest at its start as seen by a process whose clock runs half an interval ahead:
 * `1.5 × intervalMs` before the epoch ends on a correct clock. memcached counts expiry on a
 * whole-second clock of its own, so a TTL of N seconds may end after only N − 1: one more
 * second makes up for it.
 */
export function slotTtlSecondsFor(retentionMs: number, intervalMs: number): number {
  return Math.ceil((retentionMs + 1.5 * intervalMs) / 1000) + 1;
}
