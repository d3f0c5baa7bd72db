import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * An operation needs more than the backend allows in one call or transaction (for Datastore: 500 mutations per commit). Non-transactional batches are chunked for you; a single transaction cannot be, so it fails with this error before anything is written.
 */
export class LimitExceededError extends ShardcountError {
  /** Stable code of this error: `LIMIT_EXCEEDED`. */
  static readonly code = 'LIMIT_EXCEEDED';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('LIMIT_EXCEEDED', message, options);
  }
}
