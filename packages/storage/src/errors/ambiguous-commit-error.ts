import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * A commit failed in a way that leaves its outcome unknown (deadline exceeded, connection lost, service unavailable during commit): the writes may or may not have been applied. It is never retried blindly; use an idempotency key or re-read to find out.
 */
export class AmbiguousCommitError extends ShardcountError {
  /** Stable code of this error: `AMBIGUOUS_COMMIT`. */
  static readonly code = 'AMBIGUOUS_COMMIT';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('AMBIGUOUS_COMMIT', message, options);
  }
}
