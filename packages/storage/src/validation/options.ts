import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import type { ErrorContext } from '../errors/shardcount-error.js';
import { invalidArgument, isArray } from './assert.js';

/** The fields of an options object as read by {@link readOptions}; every value still unchecked. */
export type OptionFields<K extends string> = { readonly [P in K]?: unknown };

const NO_OPTIONS: OptionFields<never> = Object.freeze({});

/**
 * Reads an options object once, the shardcount way:
 *
 * - `undefined` means "no options" and gives an empty record;
 * - anything else must be an object (not `null`, an array, a function or a primitive);
 * - a key that is not in `known` is refused (so a typo such as `ttl` for `ttlSeconds` is an
 *   error, not an option silently ignored); symbol keys and inherited keys are not checked;
 * - each known field is read exactly once into a fresh record, so a getter cannot answer
 *   one value to the check and another to the use, and a getter that throws becomes an
 *   `InvalidArgumentError` naming the field (with the getter's error as `cause`).
 *
 * The values are returned unchecked: validate each with the assertions, naming it
 * `<argument>.<field>`.
 *
 * @param options - what the caller passed
 * @param argument - the parameter's name in messages, e.g. `options`
 * @param known - every field the options type declares
 * @param context - more context for the error (a key, a kind)
 */
export function readOptions<const K extends string>(
  options: unknown,
  argument: string,
  known: readonly K[],
  context: ErrorContext = {},
): OptionFields<K> {
  if (options === undefined) return NO_OPTIONS;
  if (typeof options !== 'object' || options === null || isArray(options)) {
    throw invalidArgument(argument, 'an options object', options, context);
  }
  let own: string[];
  try {
    own = Object.keys(options);
  } catch (cause) {
    throw unreadable(argument, cause, context);
  }
  for (const field of own) {
    if (!(known as readonly string[]).includes(field)) {
      throw new InvalidArgumentError(
        `${argument} has an unknown option ${JSON.stringify(field)}; the options are ${known.join(', ')}.`,
        { context: { ...context, argument: `${argument}.${field}` } },
      );
    }
  }
  const fields: Record<string, unknown> = {};
  for (const field of known) {
    let value: unknown;
    try {
      value = (options as Record<string, unknown>)[field];
    } catch (cause) {
      throw unreadable(`${argument}.${field}`, cause, context);
    }
    if (value !== undefined) fields[field] = value;
  }
  return fields as OptionFields<K>;
}

function unreadable(argument: string, cause: unknown, context: ErrorContext): InvalidArgumentError {
  return new InvalidArgumentError(`${argument} could not be read: reading it threw.`, {
    cause,
    context: { ...context, argument },
  });
}
