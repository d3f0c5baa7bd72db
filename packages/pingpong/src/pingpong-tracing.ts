import {
  type OperationMessage,
  operationChannels,
  operationMessage,
  setOperationAttribute,
} from '@shardcount/storage';

/**
 * The operations pingpong publishes on `diagnostics_channel`, one `TracingChannel` each
 * (`shardcount:pingpong:<operation>`); listed in storage's `SHARDCOUNT_OPERATIONS`.
 */
export const PINGPONG_CHANNELS = operationChannels('pingpong', [
  'increment',
  'get',
  'getMany',
  'flush',
  'reset',
  'delete',
  'listCounters',
]);

/** The message of one traced pingpong operation; `subject` is the counter name when it is one. */
export function pingpongMessage(
  operation: keyof typeof PINGPONG_CHANNELS,
  name: unknown,
): OperationMessage {
  return operationMessage('pingpong', operation, name);
}

/** Records an attribute on the operation's message, when the operation is traced. */
export const setAttribute = setOperationAttribute;
