import {
  assertBoolean,
  assertCallOptions,
  assertOneOf,
  CALL_OPTION_FIELDS,
  type CallOptions,
  describeValue,
  InvalidArgumentError,
  invalidArgument,
  readOptions,
} from '@shardcount/storage';
import { CounterStatus, type SettableCounterStatus } from './counter-status.js';
import type { CounterChanges } from './maintenance.js';
import { assertDescription, assertIdempotencyKey, assertNumShards } from './validation.js';

/** Fields of `increment`'s options. */
export const INCREMENT_OPTIONS = ['isolated', 'idempotencyKey', ...CALL_OPTION_FIELDS] as const;

/** Fields of `decrement`'s options. */
export const DECREMENT_OPTIONS = [
  'isolated',
  'idempotencyKey',
  'mode',
  ...CALL_OPTION_FIELDS,
] as const;

/** The options of an increment or decrement, read once and checked. */
export interface WriteOptions {
  readonly isolated: boolean | undefined;
  readonly idempotencyKey: string | undefined;
  /** `upTo` unless `exact` was asked for (increments: always `upTo`). */
  readonly mode: 'upTo' | 'exact';
  /** The call's signal and deadline. */
  readonly call: CallOptions;
}

/** Reads and checks the options of `increment` or `decrement` (`fields` says which). */
export function readWriteOptions(
  options: unknown,
  counterName: string,
  fields: typeof INCREMENT_OPTIONS | typeof DECREMENT_OPTIONS,
): WriteOptions {
  const read: {
    isolated?: unknown;
    idempotencyKey?: unknown;
    mode?: unknown;
    signal?: unknown;
    timeoutMs?: unknown;
  } = readOptions(options, 'options', fields, { counterName });
  const { isolated, idempotencyKey } = read;
  if (isolated !== undefined) assertBoolean(isolated, 'options.isolated', { counterName });
  if (idempotencyKey !== undefined) assertIdempotencyKey(idempotencyKey, 'options.idempotencyKey');
  const mode = read.mode === undefined ? 'upTo' : read.mode;
  assertOneOf(mode, 'options.mode', ['upTo', 'exact'], { counterName });
  const call = { signal: read.signal, timeoutMs: read.timeoutMs };
  assertCallOptions(call, 'options', { counterName });
  return { isolated, idempotencyKey, mode, call };
}

const SETTABLE: readonly SettableCounterStatus[] = [
  CounterStatus.AVAILABLE,
  CounterStatus.READ_ONLY_COUNT,
];

/** Reads and checks `updateCounter`'s options (required: an update must say what changes). */
export function readCounterChanges(
  options: unknown,
  counterName: string,
): CounterChanges & { readonly call: CallOptions } {
  if (options === undefined) {
    throw invalidArgument('options', 'an options object saying what to change', options, {
      counterName,
    });
  }
  const fields = readOptions(
    options,
    'options',
    ['numShards', 'description', 'status', ...CALL_OPTION_FIELDS],
    { counterName },
  );
  const { numShards, description, status } = fields;
  if (numShards !== undefined) assertNumShards(numShards, 'options.numShards');
  if (description !== undefined) assertDescription(description, 'options.description');
  if (status !== undefined && !(SETTABLE as readonly unknown[]).includes(status)) {
    throw new InvalidArgumentError(
      `options.status must be AVAILABLE or READ_ONLY_COUNT, got ${describeValue(status)}; DELETING, RESETTING and CHANGING_SHARDS are managed by delete(), reset() and updateCounter({ numShards }).`,
      { context: { argument: 'options.status', counterName } },
    );
  }
  const call = { signal: fields.signal, timeoutMs: fields.timeoutMs };
  assertCallOptions(call, 'options', { counterName });
  return {
    numShards,
    description,
    status: status as SettableCounterStatus | undefined,
    call,
  };
}

/**
 * Reads options that are only a {@link CallOptions} (`reset`, `resumeDeletions`, ...), or
 * `extra` fields besides; returns every field, the call options checked.
 */
export function readCallOptions<const K extends string>(
  options: unknown,
  extra: readonly K[],
  context: { readonly counterName?: string } = {},
): Record<K, unknown> & { readonly call: CallOptions } {
  const fields = readOptions(options, 'options', [...extra, ...CALL_OPTION_FIELDS], context);
  const call = { signal: fields.signal, timeoutMs: fields.timeoutMs };
  assertCallOptions(call, 'options', context);
  return { ...(fields as Record<K, unknown>), call };
}
