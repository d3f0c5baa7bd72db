/**
 * pingpong's argument checks, built on the validation vocabulary of `@shardcount/storage`:
 * every refusal is an `InvalidArgumentError` whose `context.argument` names the argument
 * (`name`, `delta`, `options.names[2]`), thrown before any I/O. The name check is on the
 * increment's hot path: a short well-formed name costs a type check, a `trim` and
 * `isWellFormed`.
 */
import {
  assertArray,
  assertInteger,
  assertString,
  InvalidArgumentError,
  invalidArgument,
} from '@shardcount/storage';

/** Longest counter name, in UTF-8 bytes. Keeps entity key names well under Datastore's 1500. */
export const MAX_COUNTER_NAME_BYTES = 500;

/**
 * Throws `InvalidArgumentError` unless `name` is a non-blank, well-formed string of at most
 * 500 UTF-8 bytes.
 *
 * @param argument - how the caller's argument is named in the error (`name`, `options.names[3]`)
 */
export function assertCounterName(name: unknown, argument = 'name'): asserts name is string {
  if (typeof name !== 'string' || name.trim().length === 0) {
    throw invalidArgument(
      argument,
      `a non-blank string of at most ${MAX_COUNTER_NAME_BYTES} UTF-8 bytes`,
      name,
    );
  }
  // Lone surrogates: two different such names would reach memcached and the store as the same bytes.
  assertString(name, argument);
  // A UTF-16 code unit takes at most 3 UTF-8 bytes: short names need no count (hot path).
  if (name.length * 3 <= MAX_COUNTER_NAME_BYTES) return;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_COUNTER_NAME_BYTES) {
    throw new InvalidArgumentError(
      `${argument} is ${bytes} UTF-8 bytes; at most ${MAX_COUNTER_NAME_BYTES} are allowed.`,
      { context: { argument, bytes } },
    );
  }
}

/** Throws `InvalidArgumentError` unless `delta` is a safe integer (negative allowed). */
export function assertDelta(delta: unknown, counterName: string): asserts delta is number {
  // Checked here first so that a valid delta, every increment's case, builds no range or context.
  if (Number.isSafeInteger(delta)) return;
  assertInteger(delta, 'delta', {}, { counterName });
}

/**
 * Checks `flush`'s `names`: an array (not a string, a `Set`) of counter names, each named
 * `options.names[i]` when refused. Returns them without duplicates.
 */
export function readCounterNames(names: unknown, argument: string): string[] {
  assertArray(names, argument);
  const unique = new Set<string>();
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    assertCounterName(name, `${argument}[${i}]`);
    unique.add(name);
  }
  return [...unique];
}

/**
 * Checks `getMany`'s `names`: an array (not a string, a `Set`) of at most `max` counter
 * names, each named `names[i]` when refused. Returns them as given, in order, duplicates kept.
 */
export function readCounterNameList(names: unknown, argument: string, max: number): string[] {
  assertArray(names, argument);
  if (names.length > max) {
    throw new InvalidArgumentError(
      `${argument} has ${names.length} names; at most ${max} are read in one call.`,
      { context: { argument, length: names.length } },
    );
  }
  const list: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    assertCounterName(name, `${argument}[${i}]`);
    list.push(name);
  }
  return list;
}
