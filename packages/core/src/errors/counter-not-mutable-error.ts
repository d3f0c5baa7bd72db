import { ShardcountError, type ShardcountErrorOptions } from '@shardcount/storage';

/**
 * The counter's status forbids the requested change: it is `READ_ONLY_COUNT`, being deleted
 * (`DELETING`) or being reset (`RESETTING`). Nothing was written by the call that threw.
 */
export class CounterNotMutableError extends ShardcountError {
  /** Stable code of this error: `COUNTER_NOT_MUTABLE`. */
  static readonly code = 'COUNTER_NOT_MUTABLE';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context (`counterName`, `status`, `operation`)
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('COUNTER_NOT_MUTABLE', message, options);
  }
}
