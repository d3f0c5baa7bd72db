import {
  assertFunction,
  assertInteger,
  assertKindName,
  assertObject,
  assertString,
  assertTimerMs,
  type CacheStore,
  DEFAULT_RETRY_POLICY,
  type EntityStore,
  InvalidArgumentError,
  invalidArgument,
  type RetryPolicy,
  readOptions,
  resolveRetryPolicy,
} from '@shardcount/storage';
import { type CounterKinds, counterKinds } from './counter-entities.js';
import { assertNumShards } from './validation.js';

/** The service's options with defaults applied and every value checked. */
export interface ResolvedServiceOptions {
  readonly store: EntityStore;
  readonly cache: CacheStore;
  readonly kinds: CounterKinds;
  readonly numInitialShards: number;
  readonly cacheTtlSeconds: number;
  readonly cacheLeaseTtlSeconds: number;
  readonly cacheTimeoutMs: number;
  readonly cacheCasRetries: number;
  readonly cacheKeyPrefix: string;
  readonly metadataTtlMs: number;
  readonly metadataMaxEntries: number;
  readonly idempotencyTtlSeconds: number;
  readonly maxWritesPerTransaction: number;
  readonly retry: RetryPolicy;
  readonly autoShard: { readonly maxShards: number; readonly cooldownMs: number } | undefined;
  /** The service-wide default deadline of each call, in milliseconds; none when undefined. */
  readonly timeoutMs: number | undefined;
}

/**
 * Default retry policy of the service's transactions: counters are where contention lives,
 * and a lost race writes nothing, so retrying is always safe.
 */
export const DEFAULT_SERVICE_RETRY_POLICY: RetryPolicy = Object.freeze({
  ...DEFAULT_RETRY_POLICY,
  retries: 20,
});

const OPTION_FIELDS = [
  'store',
  'cache',
  'numInitialShards',
  'cacheTtlSeconds',
  'cacheLeaseTtlSeconds',
  'cacheTimeoutMs',
  'cacheCasRetries',
  'cacheKeyPrefix',
  'kindPrefix',
  'metadataTtlMs',
  'metadataMaxEntries',
  'idempotencyTtlSeconds',
  'retry',
  'autoShard',
  'maxWritesPerTransaction',
  'timeoutMs',
] as const;

/** The `EntityStore` members the service calls. */
const STORE_METHODS = [
  'load',
  'loadMany',
  'save',
  'saveMany',
  'delete',
  'deleteMany',
  'query',
  'transact',
  'transactNew',
  'transactionless',
  'afterCommit',
] as const;

/** The `CacheStore` members the service calls. */
const CACHE_METHODS = ['get', 'getMany', 'gets', 'cas', 'add', 'set', 'incr', 'decr', 'delete'];

/** Most seconds a TTL may be: memcached reads more than 30 days as a Unix time. */
const MAX_TTL_SECONDS = 30 * 24 * 3600;

/** Most cache CAS retries: each is a round trip on a removal's path. */
const MAX_CAS_RETRIES = 1000;

/** Most counters whose metadata an instance may remember (lru-cache allocates per entry). */
export const MAX_METADATA_ENTRIES = 10_000_000;

/**
 * Applies the defaults and checks every option, each read once, before the service exists:
 * a field {@link ShardedCounterServiceOptions} does not declare is refused, and `null` is a
 * value (refused), not "the default".
 */
export function resolveServiceOptions(options: unknown): ResolvedServiceOptions {
  if (options === undefined) {
    throw invalidArgument('options', 'an options object with a `store` and a `cache`', options);
  }
  const fields = readOptions(options, 'options', OPTION_FIELDS);
  const store = fields.store;
  assertObject(store, 'options.store');
  for (const method of STORE_METHODS) {
    assertFunction(readMember(store, method, 'options.store'), `options.store.${method}`);
  }
  const cache = fields.cache;
  assertObject(cache, 'options.cache');
  for (const method of CACHE_METHODS) {
    assertFunction(readMember(cache, method, 'options.cache'), `options.cache.${method}`);
  }
  const limits = readMember(store, 'limits', 'options.store');
  const commitLimit =
    typeof limits === 'object' && limits !== null
      ? readMember(limits, 'maxMutationsPerCommit', 'options.store.limits')
      : undefined;
  assertInteger(commitLimit, 'options.store.limits.maxMutationsPerCommit', { min: 2 });

  const numInitialShards = orDefault(fields.numInitialShards, 3);
  assertNumShards(numInitialShards, 'options.numInitialShards');
  const cacheTtlSeconds = orDefault(fields.cacheTtlSeconds, 60);
  assertInteger(cacheTtlSeconds, 'options.cacheTtlSeconds', { min: 1, max: MAX_TTL_SECONDS });
  const cacheLeaseTtlSeconds = orDefault(fields.cacheLeaseTtlSeconds, 5);
  assertInteger(cacheLeaseTtlSeconds, 'options.cacheLeaseTtlSeconds', {
    min: 1,
    max: MAX_TTL_SECONDS,
  });
  const cacheTimeoutMs = orDefault(fields.cacheTimeoutMs, 1000);
  assertTimerMs(cacheTimeoutMs, 'options.cacheTimeoutMs', 1);
  const cacheCasRetries = orDefault(fields.cacheCasRetries, 5);
  assertInteger(cacheCasRetries, 'options.cacheCasRetries', { min: 0, max: MAX_CAS_RETRIES });
  const cacheKeyPrefix = orDefault(fields.cacheKeyPrefix, 'shardcount:');
  assertString(cacheKeyPrefix, 'options.cacheKeyPrefix', { allowEmpty: true });
  const kindPrefix = orDefault(fields.kindPrefix, 'Shardcount');
  assertString(kindPrefix, 'options.kindPrefix', { allowEmpty: true });
  for (const suffix of ['Counter', 'Shard', 'Operation']) {
    assertKindName(`${kindPrefix}${suffix}`, 'options.kindPrefix');
  }
  const metadataTtlMs = orDefault(fields.metadataTtlMs, 5000);
  assertInteger(metadataTtlMs, 'options.metadataTtlMs', { min: 1 });
  const metadataMaxEntries = orDefault(fields.metadataMaxEntries, 10_000);
  assertInteger(metadataMaxEntries, 'options.metadataMaxEntries', {
    min: 1,
    max: MAX_METADATA_ENTRIES,
  });
  const idempotencyTtlSeconds = orDefault(fields.idempotencyTtlSeconds, 7 * 24 * 3600);
  // Written as `createdAt + ttl * 1000` into a Date: keep it within what a Date can hold.
  assertInteger(idempotencyTtlSeconds, 'options.idempotencyTtlSeconds', {
    min: 1,
    max: 100 * 365 * 24 * 3600,
  });
  const maxWritesPerTransaction = orDefault(fields.maxWritesPerTransaction, commitLimit);
  assertInteger(maxWritesPerTransaction, 'options.maxWritesPerTransaction', { min: 2 });
  if (maxWritesPerTransaction > commitLimit) {
    throw new InvalidArgumentError(
      `options.maxWritesPerTransaction (${maxWritesPerTransaction}) is more than the store allows in one transaction (${commitLimit}): batches that large would always fail.`,
      { context: { argument: 'options.maxWritesPerTransaction' } },
    );
  }
  const retry = resolveRetryPolicy(fields.retry, 'options.retry', DEFAULT_SERVICE_RETRY_POLICY);
  return {
    store: store as EntityStore,
    cache: cache as CacheStore,
    kinds: counterKinds(kindPrefix),
    numInitialShards,
    cacheTtlSeconds,
    cacheLeaseTtlSeconds,
    cacheTimeoutMs,
    cacheCasRetries,
    cacheKeyPrefix,
    metadataTtlMs,
    metadataMaxEntries,
    idempotencyTtlSeconds,
    maxWritesPerTransaction,
    retry,
    autoShard: resolveAutoShard(fields.autoShard),
    timeoutMs: resolveTimeout(fields.timeoutMs),
  };
}

function resolveTimeout(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined) return undefined;
  assertTimerMs(timeoutMs, 'options.timeoutMs', 1);
  return timeoutMs;
}

function resolveAutoShard(
  autoShard: unknown,
): { readonly maxShards: number; readonly cooldownMs: number } | undefined {
  if (autoShard === undefined) return undefined;
  assertObject(autoShard, 'options.autoShard');
  const fields = readOptions(autoShard, 'options.autoShard', ['maxShards', 'cooldownMs']);
  assertNumShards(fields.maxShards, 'options.autoShard.maxShards');
  const cooldownMs = orDefault(fields.cooldownMs, 1000);
  assertTimerMs(cooldownMs, 'options.autoShard.cooldownMs');
  return { maxShards: fields.maxShards, cooldownMs };
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
