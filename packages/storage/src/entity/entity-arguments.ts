import { InvalidArgumentError } from '../errors/index.js';
import { assertCallOptions } from '../operation/call-options.js';
import {
  assertArray,
  assertFiniteNumber,
  assertFunction,
  assertInteger,
  assertObject,
  assertString,
  assertTimerMs,
  invalidArgument,
} from '../validation/assert.js';
import { type OptionFields, readOptions } from '../validation/options.js';
import type {
  BackendQuery,
  EntityBackendLimits,
  Mutation,
  PropertyFilter,
} from './entity-backend.js';
import type { RetryEvent, RetryPolicy } from './entity-store.js';
import { toStorableEntity } from './entity-value.js';
import {
  assertKey,
  assertKeyName,
  assertKindName,
  type Key,
  type Kind,
  MAX_KEY_NAME_BYTES,
} from './key.js';

/**
 * Largest query `limit`: Datastore carries it as a 32-bit signed integer, so a larger one is
 * refused there; every backend refuses it the same way.
 */
export const MAX_QUERY_LIMIT = 2 ** 31 - 1;

/** Throws unless `keys` is an array of valid keys (`keys[i]` named in the message). */
export function assertKeys(keys: unknown, argument = 'keys'): asserts keys is readonly Key[] {
  assertArray(keys, argument);
  for (let i = 0; i < keys.length; i += 1) assertKey(keys[i], `${argument}[${i}]`);
}

/** Checks `saveMany`'s entries and turns them into upserts (deep copies of storable data). */
export function toUpserts(entries: unknown, argument = 'entries'): Mutation[] {
  assertArray(entries, argument);
  // Array.from visits holes (as undefined), which map would skip.
  return Array.from(entries, (entry, i): Mutation => {
    const fields = readEntry(entry, `${argument}[${i}]`);
    assertKey(fields.key, `${argument}[${i}].key`);
    return {
      type: 'upsert',
      key: fields.key,
      entity: toStorableEntity(fields.key.kind, fields.entity, `${argument}[${i}].entity`),
    };
  });
}

function readEntry(entry: unknown, argument: string): { key: unknown; entity: unknown } {
  assertObject(entry, argument);
  try {
    const { key, entity } = entry as { key?: unknown; entity?: unknown };
    return { key, entity };
  } catch (cause) {
    throw new InvalidArgumentError(`${argument} could not be read: reading it threw.`, {
      cause,
      context: { argument },
    });
  }
}

/** Throws unless `kind` is a {@link Kind} as `defineKind` makes it. */
export function assertKind(kind: unknown, argument = 'kind'): asserts kind is Kind<object> {
  assertObject(kind, argument);
  let name: unknown;
  let makeKey: unknown;
  try {
    ({ name, key: makeKey } = kind as { name?: unknown; key?: unknown });
  } catch (cause) {
    throw new InvalidArgumentError(`${argument} could not be read: reading it threw.`, {
      cause,
      context: { argument },
    });
  }
  assertKindName(name, `${argument}.name`);
  assertFunction(makeKey, `${argument}.key`);
}

/**
 * Checks `query`'s options and returns the backend query (an empty `keyPrefix` left out).
 * `keyPrefix` is a well-formed string of at most 1500 UTF-8 bytes; `startAfter` a key name;
 * `limit` a whole number from 0 to {@link MAX_QUERY_LIMIT}; each filter is `{ property, value }` with a non-empty property
 * name and a string, finite number (safe if whole), boolean or null value.
 */
export function toBackendQuery(
  kindName: string,
  options: unknown,
  argument = 'options',
): BackendQuery {
  const fields = readOptions(options, argument, QUERY_OPTION_FIELDS, { kind: kindName });
  return checkQueryFields(kindName, fields, argument);
}

/**
 * Checks the options of `EntityStore.query`: the backend query of {@link toBackendQuery}
 * and the call's `signal` (an `AbortSignal`).
 */
export function readQueryOptions(
  kindName: string,
  options: unknown,
): { readonly query: BackendQuery; readonly signal: AbortSignal | undefined } {
  const { signal, ...fields } = readOptions(
    options,
    'options',
    [...QUERY_OPTION_FIELDS, 'signal'],
    { kind: kindName },
  );
  const call = { signal };
  assertCallOptions(call, 'options', { kind: kindName });
  return { query: checkQueryFields(kindName, fields, 'options'), signal: call.signal };
}

function checkQueryFields(
  kindName: string,
  fields: OptionFields<(typeof QUERY_OPTION_FIELDS)[number]>,
  argument: string,
): BackendQuery {
  const filters = fields.filters === undefined ? [] : fields.filters;
  assertArray(filters, `${argument}.filters`, { kind: kindName });
  const checked = filters.map((filter, i) =>
    toFilter(kindName, filter, `${argument}.filters[${i}]`),
  );
  const { keyPrefix, startAfter, limit } = fields;
  if (keyPrefix !== undefined) assertKeyPrefix(kindName, keyPrefix, `${argument}.keyPrefix`);
  if (startAfter !== undefined) assertKeyName(kindName, startAfter, `${argument}.startAfter`);
  if (limit !== undefined) {
    assertInteger(limit, `${argument}.limit`, { min: 0, max: MAX_QUERY_LIMIT }, { kind: kindName });
  }
  return {
    kind: kindName,
    filters: checked,
    ...(keyPrefix === undefined || keyPrefix === '' ? {} : { keyPrefix }),
    ...(startAfter === undefined ? {} : { startAfter }),
    ...(limit === undefined ? {} : { limit }),
  };
}

/** The fields of {@link QueryOptions} (and of a {@link BackendQuery} besides `kind`). */
const QUERY_OPTION_FIELDS = ['filters', 'keyPrefix', 'startAfter', 'limit'] as const;

/** A key-name prefix: a well-formed string ('' for all) no longer than a key name may be. */
function assertKeyPrefix(
  kind: string,
  prefix: unknown,
  argument: string,
): asserts prefix is string {
  assertString(prefix, argument, { allowEmpty: true, context: { kind } });
  const bytes = Buffer.byteLength(prefix, 'utf8');
  if (bytes > MAX_KEY_NAME_BYTES) {
    throw new InvalidArgumentError(
      `${argument} is ${bytes} bytes; no key name of kind "${kind}" can start with it (at most ${MAX_KEY_NAME_BYTES} UTF-8 bytes).`,
      { context: { kind, bytes, argument } },
    );
  }
}

/**
 * Throws unless a backend query is one every backend answers the same way: what
 * `toBackendQuery` accepts. Backends call it so that code calling them directly is held to
 * the same rules.
 */
export function assertBackendQuery(query: unknown): asserts query is BackendQuery {
  assertObject(query, 'query');
  const { kind, ...options } = readOptions(query, 'query', ['kind', ...QUERY_OPTION_FIELDS]);
  assertKindName(kind, 'query.kind');
  toBackendQuery(kind, options, 'query');
}

function toFilter(kind: string, filter: unknown, argument: string): PropertyFilter {
  assertObject(filter, argument, { kind });
  const fields = readOptions(filter, argument, ['property', 'value'], { kind });
  assertString(fields.property, `${argument}.property`, { context: { kind } });
  const { value } = fields;
  const ok =
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' &&
      Number.isFinite(value) &&
      (!Number.isInteger(value) || Number.isSafeInteger(value)));
  if (!ok) {
    throw invalidArgument(
      `${argument}.value`,
      'a string, a finite number (safe if whole), a boolean or null',
      value,
      { kind, property: fields.property },
    );
  }
  return { property: fields.property, value: value as PropertyFilter['value'] };
}

/**
 * Checks a (partial) retry policy and returns the fields given. `retries`: a whole number
 * from 0 to 1000; `minTimeoutMs`/`maxTimeoutMs`: whole milliseconds from 0 to 2^31 − 1;
 * `factor`: a finite number from 1 to 100. Unknown fields are refused. Use
 * {@link resolveRetryPolicy} to also check `minTimeoutMs` ≤ `maxTimeoutMs` once merged.
 */
export function checkRetryPolicy(policy: unknown, argument: string): Partial<RetryPolicy> {
  if (policy === undefined) throw invalidArgument(argument, 'a retry policy object', policy);
  const fields = readOptions(policy, argument, [
    'retries',
    'minTimeoutMs',
    'maxTimeoutMs',
    'factor',
  ]);
  const out: { -readonly [P in keyof RetryPolicy]?: number } = {};
  if (fields.retries !== undefined) {
    assertInteger(fields.retries, `${argument}.retries`, { min: 0, max: MAX_RETRIES });
    out.retries = fields.retries;
  }
  if (fields.minTimeoutMs !== undefined) {
    assertTimerMs(fields.minTimeoutMs, `${argument}.minTimeoutMs`);
    out.minTimeoutMs = fields.minTimeoutMs;
  }
  if (fields.maxTimeoutMs !== undefined) {
    assertTimerMs(fields.maxTimeoutMs, `${argument}.maxTimeoutMs`);
    out.maxTimeoutMs = fields.maxTimeoutMs;
  }
  if (fields.factor !== undefined) {
    assertFiniteNumber(fields.factor, `${argument}.factor`, { min: 1, max: MAX_FACTOR });
    out.factor = fields.factor;
  }
  return out;
}

/** Most retries a policy may ask for: with the longest delays that is already weeks. */
export const MAX_RETRIES = 1000;

/** Largest delay growth factor per attempt. */
const MAX_FACTOR = 100;

/**
 * Checks a (partial) retry policy given by a caller and merges it over `base`: the policy a
 * constructor option such as core's `retry` resolves to, refused (naming `argument`) when a
 * field is out of range or unknown, or when the merged `minTimeoutMs` exceeds `maxTimeoutMs`.
 *
 * @example
 * ```ts
 * const retry = resolveRetryPolicy(options.retry, 'options.retry', DEFAULT_RETRY_POLICY);
 * ```
 */
export function resolveRetryPolicy(
  policy: unknown,
  argument: string,
  base: RetryPolicy,
): RetryPolicy {
  const merged: RetryPolicy = {
    ...base,
    ...(policy === undefined ? {} : checkRetryPolicy(policy, argument)),
  };
  assertRetryPolicyConsistent(merged, argument);
  return merged;
}

/** Throws unless a merged retry policy's delays are in order. */
export function assertRetryPolicyConsistent(policy: RetryPolicy, argument: string): void {
  if (policy.minTimeoutMs > policy.maxTimeoutMs) {
    throw new InvalidArgumentError(
      `${argument}.minTimeoutMs (${policy.minTimeoutMs}) must not exceed maxTimeoutMs (${policy.maxTimeoutMs}).`,
      { context: { argument: `${argument}.minTimeoutMs` } },
    );
  }
}

/** Checked options of `transact`/`transactNew` or of a store's constructor. */
export interface CheckedRetryOptions {
  /** The retry policy fields given. */
  readonly retry: Partial<RetryPolicy>;
  /** The retry hook, when given. */
  readonly onRetry: ((event: RetryEvent) => void) | undefined;
}

/** Reads and checks `{ retry, onRetry }` fields already read from an options object. */
export function checkRetryFields(
  fields: { readonly retry?: unknown; readonly onRetry?: unknown },
  argument: string,
): CheckedRetryOptions {
  const retry =
    fields.retry === undefined ? {} : checkRetryPolicy(fields.retry, `${argument}.retry`);
  if (fields.onRetry !== undefined) assertFunction(fields.onRetry, `${argument}.onRetry`);
  return { retry, onRetry: fields.onRetry as CheckedRetryOptions['onRetry'] };
}

/**
 * Checks per-call limits: each a whole number from 1 to `Number.MAX_SAFE_INTEGER` (0 or
 * NaN would make chunking loop forever or skip keys).
 */
export function checkLimits(limits: unknown, argument: string): Partial<EntityBackendLimits> {
  const fields = readOptions(limits, argument, ['maxLookupKeys', 'maxMutationsPerCommit']);
  const out: { -readonly [P in keyof EntityBackendLimits]?: number } = {};
  if (fields.maxLookupKeys !== undefined) {
    assertInteger(fields.maxLookupKeys, `${argument}.maxLookupKeys`, { min: 1 });
    out.maxLookupKeys = fields.maxLookupKeys;
  }
  if (fields.maxMutationsPerCommit !== undefined) {
    assertInteger(fields.maxMutationsPerCommit, `${argument}.maxMutationsPerCommit`, { min: 1 });
    out.maxMutationsPerCommit = fields.maxMutationsPerCommit;
  }
  return out;
}
