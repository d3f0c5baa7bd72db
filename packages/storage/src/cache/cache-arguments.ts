import { InvalidArgumentError } from '../errors/index.js';
import { assertCallOptions } from '../operation/call-options.js';
import { assertArray, assertInteger, assertString, invalidArgument } from '../validation/assert.js';
import { describeValue } from '../validation/describe-value.js';
import { readOptions } from '../validation/options.js';
import type { CacheValue, CasToken } from './cache-store.js';

/** Largest encoded value accepted, in bytes: memcached's default item size limit leaves room for the header. */
export const MAX_CACHE_VALUE_BYTES = 1_000_000;

/** Deepest nesting of arrays and objects a cached value may have. */
const MAX_VALUE_DEPTH = 100;

/**
 * Throws unless `key` is a non-empty, well-formed string (any such string is a valid key:
 * adapters map keys their server cannot take).
 *
 * @param key - the key to check
 * @param argument - its name in the message, `key` by default
 */
export function assertCacheKey(key: unknown, argument = 'key'): asserts key is string {
  assertString(key, argument);
}

/** Throws unless `keys` is an array of valid cache keys (`keys[i]` is named in the message). */
export function assertCacheKeys(keys: unknown, argument = 'keys'): asserts keys is string[] {
  assertArray(keys, argument);
  for (let i = 0; i < keys.length; i += 1) assertCacheKey(keys[i], `${argument}[${i}]`);
}

/**
 * Throws unless `ttlSeconds` is absent or a whole number of seconds from 0 to
 * `Number.MAX_SAFE_INTEGER` (0 = no expiry).
 *
 * @param ttlSeconds - the value to check
 * @param argument - its name in the message, `options.ttlSeconds` by default
 */
export function assertTtl(ttlSeconds: unknown, argument = 'options.ttlSeconds'): void {
  if (ttlSeconds === undefined) return;
  assertInteger(ttlSeconds, argument, { min: 0 });
}

const NON_NEGATIVE = { min: 0 } as const;

/** Throws unless `delta` is a non-negative safe integer. */
export function assertDelta(delta: unknown, name = 'delta'): asserts delta is number {
  assertInteger(delta, name, NON_NEGATIVE);
}

/** Throws unless `cas` is a token string (as `gets` returns); a string `gets` never returned just never matches. */
export function assertCasToken(cas: unknown, key: string): asserts cas is CasToken {
  if (typeof cas !== 'string') {
    throw invalidArgument('cas', 'a token returned by gets', cas, { key });
  }
}

/** The checked options of a cache write (`set`, `add`, `cas`). */
export interface CheckedWriteOptions {
  /** Absent or a whole number of seconds. */
  readonly ttlSeconds: number | undefined;
  /** The call's signal, if any. */
  readonly signal: AbortSignal | undefined;
}

/** The checked options of `incr`/`decr`. */
export interface CheckedCounterOptions extends CheckedWriteOptions {
  /** Absent or a non-negative safe integer. */
  readonly initial: number | undefined;
}

const NO_COUNTER_OPTIONS: CheckedCounterOptions = Object.freeze({
  ttlSeconds: undefined,
  signal: undefined,
  initial: undefined,
});

/**
 * Reads and checks the options of a call that takes only a `signal` (`get`, `getMany`,
 * `gets`, `delete`); unknown fields are refused. Returns the signal.
 */
export function checkCallOptions(options: unknown): AbortSignal | undefined {
  const fields = readOptions(options, 'options', ['signal']);
  assertCallOptions(fields, 'options');
  return fields.signal;
}

/** Reads and checks the options of a cache write; unknown fields are refused. */
export function checkWriteOptions(options: unknown): CheckedWriteOptions {
  if (options === undefined) return NO_COUNTER_OPTIONS;
  const fields = readOptions(options, 'options', ['ttlSeconds', 'signal']);
  const ttlSeconds = fields.ttlSeconds;
  assertTtl(ttlSeconds);
  assertCallOptions(fields, 'options');
  return { ttlSeconds: ttlSeconds as number | undefined, signal: fields.signal };
}

/** The last frozen counter options object checked, and what it held: see below. */
let lastFrozenCounterOptions: object | undefined;
let lastCheckedCounterOptions: CheckedCounterOptions = NO_COUNTER_OPTIONS;

/**
 * Reads and checks the options of `incr`/`decr`; unknown fields are refused.
 *
 * A caller that passes the same frozen options object on every call (pingpong's slot
 * options) has it checked once: a frozen plain object of data properties cannot change, so
 * the last one checked is remembered and recognised by identity, sparing the hot path of
 * counters the options walk.
 */
export function checkCounterOptions(options: unknown): CheckedCounterOptions {
  if (options === undefined) return NO_COUNTER_OPTIONS;
  if (options === lastFrozenCounterOptions) return lastCheckedCounterOptions;
  const fields = readOptions(options, 'options', ['ttlSeconds', 'initial', 'signal']);
  const { ttlSeconds, initial } = fields;
  assertTtl(ttlSeconds);
  if (initial !== undefined) assertDelta(initial, 'options.initial');
  assertCallOptions(fields, 'options');
  const checked: CheckedCounterOptions = {
    ttlSeconds: ttlSeconds as number | undefined,
    initial: initial as number | undefined,
    signal: fields.signal,
  };
  if (isImmutable(options as object)) {
    lastFrozenCounterOptions = options as object;
    lastCheckedCounterOptions = checked;
  }
  return checked;
}

/** Whether `value` can never read differently: frozen, plain, data properties only. */
function isImmutable(value: object): boolean {
  if (!Object.isFrozen(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(Object.getOwnPropertyDescriptors(value)).every(
    (descriptor) => 'value' in descriptor,
  );
}

/**
 * Encodes a value as the JSON text the cache stores, rejecting what JSON would silently
 * change (undefined, NaN, Infinity, unsafe integers, class instances, functions), cycles,
 * nesting deeper than 100 levels, and values whose getters throw.
 */
export function encodeCacheValue(key: string, value: unknown): string {
  let text: string;
  try {
    checkValue(key, value, 'value', new Set(), 0);
    text = JSON.stringify(value);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError(`Cannot cache the value of key "${key}": reading it threw.`, {
      cause: error,
      context: { key, argument: 'value' },
    });
  }
  if (Buffer.byteLength(text, 'utf8') > MAX_CACHE_VALUE_BYTES) {
    throw new InvalidArgumentError(
      `The value for cache key "${key}" is over ${MAX_CACHE_VALUE_BYTES} bytes as JSON.`,
      { context: { key, argument: 'value' } },
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

function checkValue(
  key: string,
  value: unknown,
  path: string,
  ancestors: Set<object>,
  depth: number,
): void {
  const reject = (why: string): never => {
    throw new InvalidArgumentError(`Cannot cache ${path} of key "${key}": ${why}.`, {
      context: { key, argument: path },
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
      if (depth >= MAX_VALUE_DEPTH) reject(`it nests deeper than ${MAX_VALUE_DEPTH} levels`);
      if (ancestors.has(value)) reject('it contains itself (a cycle)');
      ancestors.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i += 1) {
          checkValue(key, value[i], `${path}[${i}]`, ancestors, depth + 1);
        }
      } else {
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          reject(`${describeValue(value)} is not JSON data`);
        }
        for (const [property, item] of Object.entries(value)) {
          checkValue(key, item, `${path}.${property}`, ancestors, depth + 1);
        }
      }
      ancestors.delete(value);
      return;
    }
    default:
      reject(`${describeValue(value)} is not JSON data`);
  }
}
