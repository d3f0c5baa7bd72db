import {
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertTimerMs,
  type CacheStore,
  type EntityStore,
  InvalidArgumentError,
  invalidArgument,
  readOptions,
} from '@shardcount/storage';
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
   * A whole number from 1000 to 432,000,000 (5 days). Default 600,000 (ten minutes).
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
   * `4 × intervalMs` to 30 days minus one second minus `1.5 × intervalMs` (the slot TTL must
   * fit memcached's longest relative TTL). Default 86,400,000 (24 hours); with an
   * `intervalMs` above 6 hours it must be given.
   */
  readonly retentionMs?: number;
  /**
   * How long after an epoch ends before a flush drains it, in milliseconds, so that
   * increments in flight when it ended (or from processes whose clocks run a little slow)
   * land first. Late increments are still moved by a later flush; this only makes it rare.
   * A whole number from 0 to `intervalMs − 1`. Default: the smaller of 10,000 and
   * `intervalMs / 4`.
   */
  readonly settleMs?: number;
  /**
   * How long the first increment of a new name in this process waits before its registry
   * entry is written (batched with others), in milliseconds. A timer: a whole number from 0
   * to 2^31 − 1. Default 1000.
   */
  readonly registrationDelayMs?: number;
  /**
   * How many names this process remembers as registered, so that it does not register them
   * again. Forgetting a name only costs one extra lookup. From 1 to 10,000,000. Default 10,000.
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
  /** Counters a flush drains in parallel (one transaction each). From 1 to 1000. Default 8. */
  readonly flushConcurrency?: number;
  /**
   * Default deadline of every asynchronous call (`increment`, `get`, `getMany`, `flush`,
   * `reset`, `delete`, `listCounters`, and the flusher's runs) that passes no `timeoutMs`
   * of its own, in whole milliseconds from 1 to 2^31 − 1. Default: none. A deadline costs
   * every call a timer and an `AbortController`; without one (and without a `signal`) the
   * increment path allocates nothing for it.
   */
  readonly timeoutMs?: number;
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
  readonly timeoutMs: number | undefined;
  readonly now: () => number;
}

const POLICIES: readonly CacheUnavailablePolicy[] = ['write-through', 'drop', 'throw'];
const NAMESPACE_PATTERN = /^[A-Za-z0-9.-][A-Za-z0-9._-]{0,99}$/;

/** Every field {@link PingPongCounterOptions} declares (and the removed `slotTtlIntervals`). */
const OPTION_FIELDS = [
  'cache',
  'store',
  'intervalMs',
  'namespace',
  'onCacheUnavailable',
  'retentionMs',
  'settleMs',
  'registrationDelayMs',
  'maxRememberedNames',
  'onLoss',
  'flushConcurrency',
  'timeoutMs',
  'now',
  'slotTtlIntervals',
] as const;

/** The `CacheStore` members the counter calls. */
const CACHE_METHODS = ['incr', 'getMany'] as const;

/** The `EntityStore` members the counter calls. */
const STORE_METHODS = [
  'load',
  'loadMany',
  'save',
  'saveMany',
  'query',
  'transactNew',
  'transactionless',
] as const;

/**
 * Longest {@link PingPongCounterOptions.intervalMs}: 5 days, so that the shortest retention
 * (`4 × intervalMs`) still fits memcached's 30-day relative TTL with the slot's margin.
 */
export const MAX_INTERVAL_MS = 432_000_000;

/** Most names a process may remember as registered (one `Map` entry each). */
export const MAX_REMEMBERED_NAMES = 10_000_000;

/** Most counters one flush drains in parallel (one open transaction each). */
export const MAX_FLUSH_CONCURRENCY = 1000;

/**
 * Applies defaults and checks every option, each read once, before the counter exists: a
 * field {@link PingPongCounterOptions} does not declare is refused, and `null` is a value
 * (refused), not "the default". Every refusal is an `InvalidArgumentError` whose
 * `context.argument` names the option (`options.retentionMs`).
 */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) {
    throw invalidArgument('options', 'an options object with a `cache` and a `store`', options);
  }
  const fields = readOptions(options, 'options', OPTION_FIELDS);
  if (fields.slotTtlIntervals !== undefined) {
    throw new InvalidArgumentError(
      'options.slotTtlIntervals was removed: slots now live for retentionMs (default 24 h), independent of intervalMs.',
      { context: { argument: 'options.slotTtlIntervals' } },
    );
  }
  const { cache, store } = fields;
  assertObject(cache, 'options.cache');
  for (const method of CACHE_METHODS) {
    assertFunction(readMember(cache, method, 'options.cache'), `options.cache.${method}`);
  }
  assertObject(store, 'options.store');
  for (const method of STORE_METHODS) {
    assertFunction(readMember(store, method, 'options.store'), `options.store.${method}`);
  }
  const intervalMs = orDefault(fields.intervalMs, 600_000);
  assertInteger(intervalMs, 'options.intervalMs', { min: 1000, max: MAX_INTERVAL_MS });
  const namespace = orDefault(fields.namespace, 'pingpong');
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    throw invalidArgument(
      'options.namespace',
      '1 to 100 characters of A-Z a-z 0-9 . _ - not starting with "_"',
      namespace,
    );
  }
  const onCacheUnavailable = orDefault(fields.onCacheUnavailable, 'write-through');
  assertOneOf(onCacheUnavailable, 'options.onCacheUnavailable', POLICIES);
  const retentionMs = resolveRetention(fields.retentionMs, intervalMs);
  const slotTtlSeconds = slotTtlSecondsFor(retentionMs, intervalMs);
  const { onLoss } = fields;
  if (onLoss !== undefined) assertFunction(onLoss, 'options.onLoss');
  const settleMs = orDefault(fields.settleMs, Math.min(10_000, Math.floor(intervalMs / 4)));
  assertInteger(settleMs, 'options.settleMs', { min: 0, max: intervalMs - 1 });
  const registrationDelayMs = orDefault(fields.registrationDelayMs, 1000);
  assertTimerMs(registrationDelayMs, 'options.registrationDelayMs');
  const maxRememberedNames = orDefault(fields.maxRememberedNames, 10_000);
  assertInteger(maxRememberedNames, 'options.maxRememberedNames', {
    min: 1,
    max: MAX_REMEMBERED_NAMES,
  });
  const flushConcurrency = orDefault(fields.flushConcurrency, 8);
  assertInteger(flushConcurrency, 'options.flushConcurrency', {
    min: 1,
    max: MAX_FLUSH_CONCURRENCY,
  });
  const { timeoutMs } = fields;
  if (timeoutMs !== undefined) assertTimerMs(timeoutMs, 'options.timeoutMs', 1);
  const now = orDefault(fields.now, Date.now);
  assertFunction(now, 'options.now');
  return {
    cache: cache as CacheStore,
    store: store as EntityStore,
    intervalMs,
    namespace,
    onCacheUnavailable,
    retentionMs,
    slotTtlSeconds,
    settleMs,
    onLoss: onLoss as ((loss: CounterLoss) => void) | undefined,
    registrationDelayMs,
    maxRememberedNames,
    flushConcurrency,
    timeoutMs,
    now: now as () => number,
  };
}

/**
 * `retentionMs`, checked: at least `4 × intervalMs`, and short enough that the slot TTL
 * (`retentionMs + 1.5 × intervalMs`, rounded up to seconds, plus one) fits memcached's
 * 30-day relative TTL. The default (24 h) is refused too when `intervalMs` is above 6 h.
 */
function resolveRetention(value: unknown, intervalMs: number): number {
  const min = 4 * intervalMs;
  const max = (MAX_RELATIVE_TTL_SECONDS - 1) * 1000 - Math.ceil(1.5 * intervalMs);
  if (value === undefined) {
    if (DEFAULT_RETENTION_MS >= min) return DEFAULT_RETENTION_MS;
    throw new InvalidArgumentError(
      `options.retentionMs must be given when intervalMs is above 6 hours: the default (${DEFAULT_RETENTION_MS}, 24 h) is below 4 × intervalMs (${min}).`,
      { context: { argument: 'options.retentionMs' } },
    );
  }
  assertInteger(value, 'options.retentionMs', { min, max });
  return value;
}

/** Reads `target[member]`; a getter that throws becomes an `InvalidArgumentError` naming it. */
function readMember(target: object, member: string, argument: string): unknown {
  try {
    return (target as Record<string, unknown>)[member];
  } catch (cause) {
    throw new InvalidArgumentError(`${argument}.${member} could not be read: reading it threw.`, {
      cause,
      context: { argument: `${argument}.${member}` },
    });
  }
}

/** `value`, or `fallback` when it is `undefined` (only: `null` is a value, and refused). */
function orDefault(value: unknown, fallback: unknown): unknown {
  return value === undefined ? fallback : value;
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
