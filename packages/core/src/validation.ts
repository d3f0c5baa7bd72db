import {
  describeValue,
  InvalidArgumentError,
  MAX_KEY_NAME_BYTES,
  OutOfRangeError,
} from '@shardcount/storage';
import { MAX_SHARDS } from './counter-entities.js';

/** Longest counter name, in UTF-8 bytes (Datastore's key-name limit). */
export const MAX_COUNTER_NAME_BYTES: number = MAX_KEY_NAME_BYTES;

/** Longest description and idempotency key, in UTF-8 bytes (Datastore's indexed-string limit). */
export const MAX_TEXT_BYTES = 1500;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function assertText(what: string, value: unknown, allowBlank: boolean): asserts value is string {
  if (typeof value !== 'string' || (!allowBlank && value.trim().length === 0)) {
    throw new InvalidArgumentError(
      `${what} must be a ${allowBlank ? '' : 'non-blank '}string, got ${describeValue(value)}.`,
    );
  }
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidArgumentError(
      `${what} contains an unpaired UTF-16 surrogate and cannot be stored as UTF-8.`,
    );
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_TEXT_BYTES) {
    throw new InvalidArgumentError(
      `${what} is ${bytes} UTF-8 bytes; at most ${MAX_TEXT_BYTES} are allowed.`,
      { context: { bytes } },
    );
  }
}

/** A counter name: a non-blank string of at most 1500 UTF-8 bytes. */
export function assertCounterName(name: unknown): asserts name is string {
  assertText('A counter name', name, false);
}

/** An idempotency key: a non-blank string of at most 1500 UTF-8 bytes. */
export function assertIdempotencyKey(key: unknown): asserts key is string {
  assertText('An idempotencyKey', key, false);
}

/** A description: any string of at most 1500 UTF-8 bytes. */
export function assertDescription(description: unknown): asserts description is string {
  assertText('A description', description, true);
}

/**
 * An amount: a positive safe integer. Integers past `Number.MAX_SAFE_INTEGER` are an
 * `OutOfRangeError`; anything else that is not a positive integer an `InvalidArgumentError`.
 */
export function assertAmount(amount: unknown, counterName: string): asserts amount is number {
  if (typeof amount === 'number' && Number.isInteger(amount) && amount > Number.MAX_SAFE_INTEGER) {
    throw new OutOfRangeError(
      `The amount ${amount} is past Number.MAX_SAFE_INTEGER (${Number.MAX_SAFE_INTEGER}) and cannot be counted exactly.`,
      { context: { counterName } },
    );
  }
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
    throw new InvalidArgumentError(
      `The amount must be a positive whole number (1 to ${Number.MAX_SAFE_INTEGER}), got ${describeValue(amount)}.`,
      { context: { counterName } },
    );
  }
}

/** A shard count: a whole number from 1 to {@link MAX_SHARDS}. */
export function assertNumShards(what: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_SHARDS) {
    throw new InvalidArgumentError(
      `${what} must be a whole number from 1 to ${MAX_SHARDS}, got ${describeValue(value)}.`,
    );
  }
}

/** A whole number of at least `min`. */
export function assertWholeNumber(
  what: string,
  value: unknown,
  min: number,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `${what} must be a whole number of at least ${min}, got ${describeValue(value)}.`,
    );
  }
}

/** An options argument: absent or a plain object. */
export function assertOptions(what: string, value: unknown): void {
  if (
    value !== undefined &&
    (typeof value !== 'object' || value === null || Array.isArray(value))
  ) {
    throw new InvalidArgumentError(`${what} must be an object, got ${describeValue(value)}.`);
  }
}

/** A boolean option, when present. */
export function assertOptionalBoolean(what: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new InvalidArgumentError(`${what} must be true or false, got ${describeValue(value)}.`);
  }
}
