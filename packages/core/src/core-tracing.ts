import {
  assertBoolean,
  type OperationMessage,
  operationChannels,
  operationMessage,
  setOperationAttribute,
} from '@shardcount/storage';

/** The operations core publishes on `diagnostics_channel` (listed in storage's `SHARDCOUNT_OPERATIONS`). */
const CORE_OPERATIONS = [
  'increment',
  'decrement',
  'getCounter',
  'getCounters',
  'listCounters',
  'createCounter',
  'updateCounter',
  'reset',
  'delete',
] as const;

/**
 * Whether core's operations publish on their channels at all; see {@link setCoreTracing}.
 * A plain object read on every call, so switching it costs nothing more than the check.
 */
export const CORE_TRACING: { enabled: boolean } = { enabled: true };

/**
 * Switches core's operation channels off (or back on) for this process. Off, every
 * `ShardedCounterService` method skips its `TracingChannel` entirely, even the check for
 * subscribers, so `@shardcount/opentelemetry` sees no core spans (backend calls and events
 * are still published by storage). On by default; a process that never subscribes pays one
 * `hasSubscribers` read per call with it on. It exists so the benchmark can measure that read
 * against no channel at all in the same run (`core-increment`'s tracing rows).
 *
 * @param enabled - `true` to publish (the default), `false` to skip the channels
 * @throws InvalidArgumentError when `enabled` is not a boolean
 */
export function setCoreTracing(enabled: boolean): void {
  assertBoolean(enabled, 'enabled');
  CORE_TRACING.enabled = enabled;
}

/** One `TracingChannel` per core operation (`shardcount:core:<operation>`). */
export const CORE_CHANNELS = operationChannels('core', CORE_OPERATIONS);

/** The message of one traced core operation; `subject` is the counter name when it is one. */
export function coreMessage(
  operation: (typeof CORE_OPERATIONS)[number],
  name: unknown,
): OperationMessage {
  return operationMessage('core', operation, name);
}

/** Records an attribute on the operation's message, when the operation is traced. */
export const setAttribute = setOperationAttribute;
