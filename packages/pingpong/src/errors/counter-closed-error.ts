import { ShardcountError, type ShardcountErrorOptions } from '@shardcount/storage';

/**
 * A `PingPongCounter` was used after `close()`. Nothing was read or written.
 */
export class CounterClosedError extends ShardcountError {
  /** Stable code of this error: `COUNTER_CLOSED`. */
  static readonly code = 'COUNTER_CLOSED';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('COUNTER_CLOSED', message, options);
  }
}

/** Whether `value` is a {@link CounterClosedError}. */
export function isCounterClosedError(value: unknown): value is CounterClosedError {
  return value instanceof CounterClosedError;
}
