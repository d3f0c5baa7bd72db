import {
  type OperationAttributeValue,
  type OperationMessage,
  operationChannel,
} from '@shardcount/storage';

/**
 * The operations pingpong publishes on `diagnostics_channel`, one `TracingChannel` each
 * (`shardcount:pingpong:<operation>`); listed in storage's `SHARDCOUNT_OPERATIONS`.
 */
export const PINGPONG_CHANNELS = Object.freeze({
  increment: operationChannel('pingpong', 'increment'),
  get: operationChannel('pingpong', 'get'),
  getMany: operationChannel('pingpong', 'getMany'),
  flush: operationChannel('pingpong', 'flush'),
  reset: operationChannel('pingpong', 'reset'),
  delete: operationChannel('pingpong', 'delete'),
});

/** The message of one traced pingpong operation; `subject` is the counter name when it is one. */
export function pingpongMessage(
  operation: keyof typeof PINGPONG_CHANNELS,
  name: unknown,
): OperationMessage {
  return {
    package: 'pingpong',
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
