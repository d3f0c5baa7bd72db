import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * An argument was rejected before any I/O: an empty kind or name, a name over 1500 bytes, a value that cannot be stored, a negative TTL. Nothing was read or written.
 */
export class InvalidArgumentError extends ShardcountError {
  /** Stable code of this error: `INVALID_ARGUMENT`. */
  static readonly code = 'INVALID_ARGUMENT';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('INVALID_ARGUMENT', message, options);
  }
}
