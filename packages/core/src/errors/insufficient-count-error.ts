import { ShardcountError, type ShardcountErrorOptions } from '@shardcount/storage';

/**
 * An exact decrement (`mode: 'exact'`) asked for more than the counter holds. Nothing was
 * removed; `context.available` is the count the transaction saw.
 */
export class InsufficientCountError extends ShardcountError {
  /** Stable code of this error: `INSUFFICIENT_COUNT`. */
  static readonly code = 'INSUFFICIENT_COUNT';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context (`counterName`, `requested`, `available`)
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('INSUFFICIENT_COUNT', message, options);
  }
}
