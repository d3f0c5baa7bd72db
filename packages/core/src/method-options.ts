import {
  assertBoolean,
  assertOneOf,
  describeValue,
  InvalidArgumentError,
  invalidArgument,
  readOptions,
} from '@shardcount/storage';
import { CounterStatus, type SettableCounterStatus } from './counter-status.js';
import type { CounterChanges } from './maintenance.js';
import { assertDescription, assertIdempotencyKey, assertNumShards } from './validation.js';

/** Fields of `increment`'s options. */
export const INCREMENT_OPTIONS = ['isolated', 'idempotencyKey'] as const;

/** Fields of `decrement`'s options. */
export const DECREMENT_OPTIONS = ['isolated', 'idempotencyKey', 'mode'] as const;

/** The options of an increment or decrement, read once and checked. */
export interface WriteOptions {
  readonly isolated: boolean | undefined;
  readonly idempotencyKey: string | undefined;
  /** `upTo` unless `exact` was asked for (increments: always `upTo`). */
  readonly mode: 'upTo' | 'exact';
}

/** Reads and checks the options of `increment` or `decrement` (`fields` says which). */
export function readWriteOptions(
  options: unknown,
  counterName: string,
  fields: typeof INCREMENT_OPTIONS | typeof DECREMENT_OPTIONS,
): WriteOptions {
  const read: { isolated?: unknown; idempotencyKey?: unknown; mode?: unknown } = readOptions(
    options,
    'options',
    fields,
    { counterName },
  );
  const { isolated, idempotencyKey } = read;
  if (isolated !== undefined) assertBoolean(isolated, 'options.isolated', { counterName });
  if (idempotencyKey !== undefined) assertIdempotencyKey(idempotencyKey, 'options.idempotencyKey');
  const mode = read.mode === undefined ? 'upTo' : read.mode;
  assertOneOf(mode, 'options.mode', ['upTo', 'exact'], { counterName });
  return { isolated, idempotencyKey, mode };
}

const SETTABLE: readonly SettableCounterStatus[] = [
  CounterStatus.AVAILABLE,
  CounterStatus.READ_ONLY_COUNT,
];

/** Reads and checks `updateCounter`'s options (required: an update must say what changes). */
export function readCounterChanges(options: unknown, counterName: string): CounterChanges {
  if (options === undefined) {
    throw invalidArgument('options', 'an options object saying what to change', options, {
      counterName,
    });
  }
  const fields = readOptions(options, 'options', ['numShards', 'description', 'status'], {
    counterName,
  });
  const { numShards, description, status } = fields;
  if (numShards !== undefined) assertNumShards(numShards, 'options.numShards');
  if (description !== undefined) assertDescription(description, 'options.description');
  if (status !== undefined && !(SETTABLE as readonly unknown[]).includes(status)) {
    throw new InvalidArgumentError(
      `options.status must be AVAILABLE or READ_ONLY_COUNT, got ${describeValue(status)}; DELETING, RESETTING and CHANGING_SHARDS are managed by delete(), reset() and updateCounter({ numShards }).`,
      { context: { argument: 'options.status', counterName } },
    );
  }
  return { numShards, description, status: status as SettableCounterStatus | undefined };
}
