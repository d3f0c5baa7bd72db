import { InvalidArgumentError } from '../errors/index.js';
import { describeValue } from '../util/describe-value.js';
import type { CacheValue } from './cache-store.js';

/** Largest encoded value accepted, in bytes: memcached's default item size limit leaves room for the header. */
export const MAX_CACHE_VALUE_BYTES = 1_000_000;

/** Throws unless `key` is a non-empty string. */
export function assertCacheKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError(
      `A cache key must be a non-empty string, got ${describeValue(key)}.`,
    );
  }
}

/** Throws unless `ttlSeconds` is absent or a non-negative whole number. */
export function assertTtl(ttlSeconds: unknown): void {
  if (ttlSeconds === undefined) return;
  if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 0) {
    throw new InvalidArgumentError(
      `ttlSeconds must be a non-negative whole number of seconds, got ${describeValue(ttlSeconds)}.`,
    );
  }
}

/** Throws unless `delta` is a non-negative safe integer. */
export function assertDelta(delta: unknown, name = 'delta'): asserts delta is number {
  if (typeof delta !== 'number' || !Number.isSafeInteger(delta) || delta < 0) {
    throw new InvalidArgumentError(
      `${name} must be a non-negative safe integer, got ${describeValue(delta)}.`,
    );
  }
}

/**
 * Encodes a value as the JSON text the cache stores, rejecting what JSON would silently
 * change (undefined, NaN, Infinity, unsafe integers, class instances, functions).
 */
export function encodeCacheValue(key: string, value: unknown): string {
  checkValue(key, value, 'value');
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text, 'utf8') > MAX_CACHE_VALUE_BYTES) {
    throw new InvalidArgumentError(
      `The value for cache key "${key}" is over ${MAX_CACHE_VALUE_BYTES} bytes as JSON.`,
      { context: { key } },
    );
  }
  return text;
}

/** Decodes stored JSON text; text that is not JSON is returned as a string. */
export function decodeCacheValue(text: string): CacheValue {
  try {
    return JSON.parse(text) as CacheValue;
  } catch {
    return text;
  }
}

function checkValue(key: string, value: unknown, path: string): void {
  const reject = (why: string): never => {
    throw new InvalidArgumentError(`Cannot cache ${path} of key "${key}": ${why}.`, {
      context: { key },
    });
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) reject(`${value} is not a finite number`);
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        reject(`${value} is not a safe integer`);
      }
      return;
    case 'object': {
      if (value === null) return;
      if (Array.isArray(value)) {
        for (const [i, item] of value.entries()) checkValue(key, item, `${path}[${i}]`);
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        reject(`${(value as object).constructor?.name ?? 'object'} instances are not JSON data`);
      }
      for (const [property, item] of Object.entries(value)) {
        checkValue(key, item, `${path}.${property}`);
      }
      return;
    }
    default:
      reject(`${describeValue(value)} is not JSON data`);
  }
}
