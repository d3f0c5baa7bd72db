import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import type { ErrorContext } from '../errors/shardcount-error.js';
import { describeValue } from './describe-value.js';

/**
 * Longest delay a Node.js timer honours, in milliseconds (2^31 − 1, about 24.8 days). A
 * longer `setTimeout` fires after 1 ms instead, so every option that becomes a timer is
 * capped here.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The error every assertion throws: an `InvalidArgumentError` whose message names the
 * argument, says what it must be and describes (never prints) what it got, and whose
 * `context.argument` holds the argument's name (`key`, `options.ttlSeconds`, `keys[2]`).
 *
 * @param argument - the argument's name as the caller wrote it, with its path for nested values
 * @param expected - what the argument must be, phrased to follow "must be"
 * @param value - what the caller passed
 * @param context - more context (a key, a kind)
 */
export function invalidArgument(
  argument: string,
  expected: string,
  value: unknown,
  context: ErrorContext = {},
): InvalidArgumentError {
  return new InvalidArgumentError(`${argument} must be ${expected}, got ${describeValue(value)}.`, {
    context: { ...context, argument },
  });
}

/** Range of a numeric assertion; both ends inclusive. */
export interface NumberRange {
  /** Smallest accepted value. */
  readonly min?: number;
  /** Largest accepted value. */
  readonly max?: number;
}

/**
 * Throws unless `value` is a string: non-empty unless `allowEmpty`, and always well-formed
 * UTF-16 (no lone surrogate), because a lone surrogate cannot be encoded as UTF-8 and two
 * different such strings would reach a server as the same bytes.
 */
export function assertString(
  value: unknown,
  argument: string,
  options: { readonly allowEmpty?: boolean; readonly context?: ErrorContext } = {},
): asserts value is string {
  const expected = options.allowEmpty ? 'a well-formed string' : 'a non-empty, well-formed string';
  if (typeof value !== 'string' || (value.length === 0 && !options.allowEmpty)) {
    throw invalidArgument(argument, expected, value, options.context);
  }
  if (!isWellFormed(value)) {
    throw invalidArgument(
      argument,
      `${expected} (this one has a lone UTF-16 surrogate)`,
      value,
      options.context,
    );
  }
}

/** Throws unless `value` is a safe integer within `range` (default: every safe integer). */
export function assertInteger(
  value: unknown,
  argument: string,
  range: NumberRange = {},
  context?: ErrorContext,
): asserts value is number {
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidArgument(argument, `a whole number from ${min} to ${max}`, value, context);
  }
}

/** Throws unless `value` is a finite number within `range`. */
export function assertFiniteNumber(
  value: unknown,
  argument: string,
  range: NumberRange = {},
  context?: ErrorContext,
): asserts value is number {
  const min = range.min ?? -Number.MAX_VALUE;
  const max = range.max ?? Number.MAX_VALUE;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const bounds =
      range.min === undefined && range.max === undefined
        ? 'a finite number'
        : range.max === undefined
          ? `a finite number of at least ${min}`
          : `a finite number from ${min} to ${max}`;
    throw invalidArgument(argument, bounds, value, context);
  }
}

/**
 * Throws unless `value` is a whole number of milliseconds a timer can wait: from `min`
 * (default 0) to {@link MAX_TIMER_MS}.
 */
export function assertTimerMs(
  value: unknown,
  argument: string,
  min = 0,
  context?: ErrorContext,
): asserts value is number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < min ||
    value > MAX_TIMER_MS
  ) {
    throw invalidArgument(
      argument,
      `a whole number of milliseconds from ${min} to ${MAX_TIMER_MS} (2^31 - 1, the longest timer Node.js honours)`,
      value,
      context,
    );
  }
}

/** Throws unless `value` is `true` or `false`. */
export function assertBoolean(
  value: unknown,
  argument: string,
  context?: ErrorContext,
): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgument(argument, 'true or false', value, context);
}

/** Throws unless `value` is a function. */
export function assertFunction(
  value: unknown,
  argument: string,
  context?: ErrorContext,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgument(argument, 'a function', value, context);
}

/** Throws unless `value` is one of `allowed` (compared with `===`). */
export function assertOneOf<const T extends string | number | boolean>(
  value: unknown,
  argument: string,
  allowed: readonly T[],
  context?: ErrorContext,
): asserts value is T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    const list = allowed.map((item) => (typeof item === 'string' ? `'${item}'` : String(item)));
    throw invalidArgument(argument, `one of ${list.join(', ')}`, value, context);
  }
}

/**
 * Throws unless `value` is an array (`Array.isArray`): a string, a `Set` or an arguments
 * object is refused rather than iterated.
 */
export function assertArray(
  value: unknown,
  argument: string,
  context?: ErrorContext,
): asserts value is readonly unknown[] {
  if (!isArray(value)) throw invalidArgument(argument, 'an array', value, context);
}

/**
 * Throws unless `value` is an object to read fields from: not `null`, not an array, not a
 * function, not a primitive.
 */
export function assertObject(
  value: unknown,
  argument: string,
  context?: ErrorContext,
): asserts value is object {
  if (typeof value !== 'object' || value === null || isArray(value)) {
    throw invalidArgument(argument, 'an object', value, context);
  }
  try {
    Object.getPrototypeOf(value);
  } catch {
    throw invalidArgument(argument, 'an object that can be inspected', value, context);
  }
}

/**
 * `Array.isArray` that answers `false` instead of throwing for a revoked proxy, which no
 * check can look into.
 */
export function isArray(value: unknown): value is readonly unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}

const wellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** `String.prototype.isWellFormed`, with a fallback for runtimes that lack it. */
function isWellFormed(text: string): boolean {
  if (wellFormed !== undefined) return wellFormed.call(text);
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}
