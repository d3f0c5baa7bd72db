/**
 * Core's argument checks, built on the validation vocabulary of `@shardcount/storage`: every
 * refusal is an `InvalidArgumentError` (or `OutOfRangeError`) whose `context.argument` names
 * the argument (`name`, `amount`, `options.numShards`), thrown before any I/O.
 */
import {
  assertArray,
  assertInteger,
  assertString,
  type ErrorContext,
  InvalidArgumentError,
  invalidArgument,
  MAX_KEY_NAME_BYTES,
  OutOfRangeError,
} from '@shardcount/storage';
import { MAX_SHARDS } from './counter-entities.js';

/** Longest counter name, in UTF-8 bytes (Datastore's key-name limit). */
export const MAX_COUNTER_NAME_BYTES: number = MAX_KEY_NAME_BYTES;

/** Longest description and idempotency key, in UTF-8 bytes (Datastore's indexed-string limit). */
export const MAX_TEXT_BYTES = 1500;

/**
 * A non-blank, well-formed string of at most {@link MAX_TEXT_BYTES} UTF-8 bytes (a counter
 * name, an idempotency key), or with `allowBlank` any such string (a description).
 */
function assertText(
  value: unknown,
  argument: string,
  allowBlank: boolean,
  context?: ErrorContext,
): asserts value is string {
  if (typeof value !== 'string' || (!allowBlank && value.trim().length === 0)) {
    const what = allowBlank ? 'a string' : 'a non-blank string';
    throw invalidArgument(
      argument,
      `${what} of at most ${MAX_TEXT_BYTES} UTF-8 bytes`,
      value,
      context,
    );
  }
  // Lone surrogates: two different such strings would reach the store as the same bytes.
  assertString(value, argument, { allowEmpty: true, ...(context ? { context } : {}) });
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_TEXT_BYTES) {
    throw new InvalidArgumentError(
      `${argument} is ${bytes} UTF-8 bytes; at most ${MAX_TEXT_BYTES} are allowed.`,
      { context: { ...context, argument, bytes } },
    );
  }
}

/** A counter name: a non-blank string of at most 1500 UTF-8 bytes. */
export function assertCounterName(name: unknown, argument = 'name'): asserts name is string {
  assertText(name, argument, false);
}

/** Most names one `getCounters` call may read. */
export const MAX_GET_COUNTERS = 1000;

/**
 * Reads an array of at most `max` counter names, each checked as `argument[i]`, into a plain
 * copy (read once: a proxy cannot answer differently later).
 */
export function readCounterNames(names: unknown, argument: string, max: number): string[] {
  assertArray(names, argument);
  let copy: unknown[];
  try {
    if (names.length > max) {
      throw new InvalidArgumentError(
        `${argument} holds ${names.length} names; at most ${max} are allowed per call.`,
        { context: { argument, count: names.length, max } },
      );
    }
    copy = Array.prototype.slice.call(names);
  } catch (cause) {
    if (cause instanceof InvalidArgumentError) throw cause;
    throw new InvalidArgumentError(`${argument} could not be read: reading it threw.`, {
      cause,
      context: { argument },
    });
  }
  for (let i = 0; i < copy.length; i++) assertCounterName(copy[i], `${argument}[${i}]`);
  return copy as string[];
}

/** An idempotency key: a non-blank string of at most 1500 UTF-8 bytes. */
export function assertIdempotencyKey(key: unknown, argument: string): asserts key is string {
  assertText(key, argument, false);
}

/** A description: any string of at most 1500 UTF-8 bytes. */
export function assertDescription(
  description: unknown,
  argument: string,
): asserts description is string {
  assertText(description, argument, true);
}

/**
 * An amount: a positive safe integer. Integers past `Number.MAX_SAFE_INTEGER` are an
 * `OutOfRangeError`; anything else that is not a positive integer an `InvalidArgumentError`.
 */
export function assertAmount(amount: unknown, counterName: string): asserts amount is number {
  if (typeof amount === 'number' && Number.isInteger(amount) && amount > Number.MAX_SAFE_INTEGER) {
    throw new OutOfRangeError(
      `amount ${amount} is past Number.MAX_SAFE_INTEGER (${Number.MAX_SAFE_INTEGER}) and cannot be counted exactly.`,
      { context: { argument: 'amount', counterName } },
    );
  }
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
    throw invalidArgument(
      'amount',
      `a positive whole number (1 to ${Number.MAX_SAFE_INTEGER})`,
      amount,
      { counterName },
    );
  }
}

/** A shard count: a whole number from 1 to {@link MAX_SHARDS}. */
export function assertNumShards(value: unknown, argument: string): asserts value is number {
  assertInteger(value, argument, { min: 1, max: MAX_SHARDS });
}
