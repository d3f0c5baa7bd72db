import {
  assertFiniteNumber,
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertString,
  assertTimerMs,
  type CacheStore,
  InvalidArgumentError,
  invalidArgument,
  readOptions,
} from '@shardcount/storage';
import type { CacheOutagePolicy, LocalCacheOptions } from './local-cache-options.js';

/**
 * Largest {@link LocalCacheOptions.maxEntries}: lru-cache allocates every slot up front
 * (about 16 bytes each: ~160 MB and most of a second at this size); larger sizes only fail
 * later, out of memory, or with lru-cache's own `RangeError`.
 */
export const MAX_LOCAL_ENTRIES = 10_000_000;

/** {@link LocalCacheOptions} with defaults applied and every value checked. */
export interface ResolvedOptions {
  readonly namespace: string;
  readonly maxEntries: number;
  readonly ttlMs: number | undefined;
  readonly maxStalenessMs: number;
  readonly versionTtlSeconds: number;
  readonly onCacheUnavailable: CacheOutagePolicy;
  readonly graceMs: number;
  /** Default deadline of every call, in milliseconds; `undefined`: none. */
  readonly timeoutMs: number | undefined;
  readonly now: () => number;
  /** Whether the caller supplied the clock (then lru-cache must not cache its readings). */
  readonly customClock: boolean;
  /** The tag store. */
  readonly cache: CacheStore;
}

const POLICIES = ['load', 'serve-stale'] as const;

const OPTION_FIELDS = [
  'cache',
  'namespace',
  'maxEntries',
  'ttlMs',
  'maxStalenessMs',
  'versionTtlSeconds',
  'onCacheUnavailable',
  'graceMs',
  'timeoutMs',
  'now',
] as const;

/** The `CacheStore` methods a LocalCache calls. */
const CACHE_METHODS = ['get', 'getMany', 'add', 'set'] as const;

/**
 * Applies defaults and validates, before the cache touches anything. Every field is read
 * once; a field `LocalCacheOptions` does not declare is refused.
 */
export function resolveOptions(options: LocalCacheOptions): ResolvedOptions {
  if (options === undefined) {
    throw invalidArgument('options', 'an options object with a `cache`', options);
  }
  const fields = readOptions(options, 'options', OPTION_FIELDS);
  const { cache } = fields;
  if (cache === undefined) throw invalidArgument('options.cache', 'a CacheStore', cache);
  assertObject(cache, 'options.cache');
  for (const method of CACHE_METHODS) {
    assertFunction(readMember(cache, method), `options.cache.${method}`);
  }
  const namespace = fields.namespace === undefined ? 'local-cache' : fields.namespace;
  assertString(namespace, 'options.namespace');
  const maxEntries = fields.maxEntries === undefined ? 10_000 : fields.maxEntries;
  assertInteger(maxEntries, 'options.maxEntries', { min: 1, max: MAX_LOCAL_ENTRIES });
  const { ttlMs } = fields;
  if (ttlMs !== undefined) assertInteger(ttlMs, 'options.ttlMs', { min: 1 });
  const maxStalenessMs = fields.maxStalenessMs === undefined ? 0 : fields.maxStalenessMs;
  assertFiniteNumber(maxStalenessMs, 'options.maxStalenessMs', {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  const versionTtlSeconds = fields.versionTtlSeconds === undefined ? 600 : fields.versionTtlSeconds;
  assertInteger(versionTtlSeconds, 'options.versionTtlSeconds', { min: 0 });
  const policy = fields.onCacheUnavailable === undefined ? 'load' : fields.onCacheUnavailable;
  assertOneOf(policy, 'options.onCacheUnavailable', POLICIES);
  const graceMs = fields.graceMs === undefined ? 60_000 : fields.graceMs;
  assertFiniteNumber(graceMs, 'options.graceMs', { min: 0, max: Number.MAX_SAFE_INTEGER });
  const { timeoutMs } = fields;
  if (timeoutMs !== undefined) assertTimerMs(timeoutMs, 'options.timeoutMs', 1);
  const now = fields.now === undefined ? () => performance.now() : fields.now;
  assertFunction(now, 'options.now');
  return {
    cache: cache as CacheStore,
    namespace,
    maxEntries,
    ttlMs,
    maxStalenessMs,
    versionTtlSeconds,
    onCacheUnavailable: policy,
    graceMs,
    timeoutMs,
    now: now as () => number,
    customClock: fields.now !== undefined,
  };
}

/** Reads `cache[member]`; a getter that throws becomes an `InvalidArgumentError` naming it. */
function readMember(cache: object, member: string): unknown {
  try {
    return (cache as Record<string, unknown>)[member];
  } catch (cause) {
    throw new InvalidArgumentError(`options.cache.${member} could not be read: reading it threw.`, {
      cause,
      context: { argument: `options.cache.${member}` },
    });
  }
}
