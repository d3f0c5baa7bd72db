import { ShardcountError, type ShardcountErrorOptions } from '@shardcount/storage';

/** `createCounter` was asked for a name that already has a counter. Nothing was written. */
export class CounterExistsError extends ShardcountError {
  /** Stable code of this error: `COUNTER_EXISTS`. */
  static readonly code = 'COUNTER_EXISTS';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context (`counterName`, `status`)
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('COUNTER_EXISTS', message, options);
  }
}
