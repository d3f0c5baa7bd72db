import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * The operation's deadline (`timeoutMs`, or the service-wide default) passed before anything
 * was committed: nothing was written. `context.timeoutMs` is the deadline it had. (A deadline
 * passing while a commit is in flight is an `AmbiguousCommitError` instead.)
 */
export class DeadlineExceededError extends ShardcountError {
  /** Stable code of this error: `DEADLINE_EXCEEDED`. */
  static readonly code = 'DEADLINE_EXCEEDED';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context (with `timeoutMs`)
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('DEADLINE_EXCEEDED', message, options);
  }
}
