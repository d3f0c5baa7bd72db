/**
 * The validation vocabulary every shardcount package uses at its public boundaries: each
 * assertion names the argument, describes the bad value safely and throws
 * `InvalidArgumentError` before any I/O or state change.
 */
export {
  assertArray,
  assertBoolean,
  assertFiniteNumber,
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertString,
  assertTimerMs,
  invalidArgument,
  MAX_TIMER_MS,
  type NumberRange,
} from './assert.js';
export { describeValue } from './describe-value.js';
export { type OptionFields, readOptions } from './options.js';
