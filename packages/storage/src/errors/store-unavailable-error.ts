import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * The entity store could not be reached or refused the call before anything was committed (begin, lookup, query, or a commit rejected outright). Nothing was written by the failed call.
 */
export class StoreUnavailableError extends ShardcountError {
  /** Stable code of this error: `STORE_UNAVAILABLE`. */
  static readonly code = 'STORE_UNAVAILABLE';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('STORE_UNAVAILABLE', message, options);
  }
}
