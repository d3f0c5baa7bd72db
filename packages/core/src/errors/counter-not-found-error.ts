import { ShardcountError, type ShardcountErrorOptions } from '@shardcount/storage';

/**
 * The named counter does not exist (or has been deleted). Raised by operations that need an
 * existing counter, such as `updateCounter` and `reset`; `increment` creates counters instead.
 */
export class CounterNotFoundError extends ShardcountError {
  /** Stable code of this error: `COUNTER_NOT_FOUND`. */
  static readonly code = 'COUNTER_NOT_FOUND';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context (`counterName`)
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('COUNTER_NOT_FOUND', message, options);
  }
}
