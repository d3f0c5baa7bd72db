import {
  type OperationAttributeValue,
  type OperationMessage,
  operationChannel,
} from '@shardcount/storage';

/**
 * The operations core publishes on `diagnostics_channel`, one `TracingChannel` each
 * (`shardcount:core:<operation>`); listed in storage's `SHARDCOUNT_OPERATIONS`.
 */
export const CORE_CHANNELS = Object.freeze({
  increment: operationChannel('core', 'increment'),
  decrement: operationChannel('core', 'decrement'),
  getCounter: operationChannel('core', 'getCounter'),
  getCounters: operationChannel('core', 'getCounters'),
  listCounters: operationChannel('core', 'listCounters'),
  createCounter: operationChannel('core', 'createCounter'),
  updateCounter: operationChannel('core', 'updateCounter'),
  reset: operationChannel('core', 'reset'),
  delete: operationChannel('core', 'delete'),
});

/** The message of one traced core operation; `subject` is the counter name when it is one. */
export function coreMessage(
  operation: keyof typeof CORE_CHANNELS,
  name: unknown,
): OperationMessage {
  return {
    package: 'core',
    operation,
    subject: typeof name === 'string' ? name : undefined,
    attributes: {},
  };
}

/** Records an attribute on the operation's message, when the operation is traced. */
export function setAttribute(
  message: OperationMessage | undefined,
  name: string,
  value: OperationAttributeValue,
): void {
  if (message !== undefined) message.attributes[name] = value;
}
