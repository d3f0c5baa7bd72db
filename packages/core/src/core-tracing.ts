import {
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
