import { InvalidArgumentError } from '@shardcount/storage';
import type { CacheOutagePolicy, LocalCacheOptions } from './local-cache-options.js';

/** {@link LocalCacheOptions} with defaults applied and every value checked. */
export interface ResolvedOptions {
  readonly namespace: string;
  readonly maxEntries: number;
  readonly ttlMs: number | undefined;
  readonly maxStalenessMs: number;
  readonly versionTtlSeconds: number;
  readonly onCacheUnavailable: CacheOutagePolicy;
  readonly graceMs: number;
  readonly now: () => number;
  /** Whether the caller supplied the clock (then lru-cache must not cache its readings). */
  readonly customClock: boolean;
}

const POLICIES: readonly CacheOutagePolicy[] = ['load', 'serve-stale'];

/** Applies defaults and validates, before the cache touches anything. */
export function resolveOptions(options: LocalCacheOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('LocalCache needs an options object with a `cache`.');
  }
  const { cache } = options;
  if (typeof cache !== 'object' || cache === null || typeof cache.get !== 'function') {
    throw new InvalidArgumentError('LocalCache option `cache` must be a CacheStore.');
  }
  const namespace = options.namespace ?? 'local-cache';
  if (typeof namespace !== 'string' || namespace.length === 0) {
    throw new InvalidArgumentError('LocalCache option `namespace` must be a non-empty string.', {
      context: { namespace: String(namespace) },
    });
  }
  const policy = options.onCacheUnavailable ?? 'load';
  if (!POLICIES.includes(policy)) {
    throw new InvalidArgumentError(
      `LocalCache option \`onCacheUnavailable\` must be 'load' or 'serve-stale', got ${String(policy)}.`,
    );
  }
  const now = options.now ?? (() => performance.now());
  if (typeof now !== 'function') {
    throw new InvalidArgumentError('LocalCache option `now` must be a function.');
  }
  return {
    namespace,
    maxEntries: positiveInteger('maxEntries', options.maxEntries ?? 10_000),
    ttlMs: options.ttlMs === undefined ? undefined : positiveInteger('ttlMs', options.ttlMs),
    maxStalenessMs: nonNegative('maxStalenessMs', options.maxStalenessMs ?? 0),
    versionTtlSeconds: nonNegativeInteger('versionTtlSeconds', options.versionTtlSeconds ?? 600),
    onCacheUnavailable: policy,
    graceMs: nonNegative('graceMs', options.graceMs ?? 60_000),
    now,
    customClock: options.now !== undefined,
  };
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(
      `LocalCache option \`${name}\` must be a positive integer, got ${String(value)}.`,
    );
  }
  return value;
}

function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(
      `LocalCache option \`${name}\` must be a non-negative integer, got ${String(value)}.`,
    );
  }
  return value;
}

function nonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      `LocalCache option \`${name}\` must be a finite number >= 0, got ${String(value)}.`,
    );
  }
  return value;
}
