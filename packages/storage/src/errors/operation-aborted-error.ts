import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * The caller's `AbortSignal` aborted the operation before anything was committed: nothing was
 * written. The signal's `reason` is the `cause`. (An abort while a commit is in flight is an
 * `AmbiguousCommitError` instead, because the commit may still apply.)
 */
export class OperationAbortedError extends ShardcountError {
  /** Stable code of this error: `ABORTED`. */
  static readonly code = 'ABORTED';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause (the signal's reason) and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('ABORTED', message, options);
  }
}
