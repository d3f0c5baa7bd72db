import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * A number left the range shardcount can represent exactly: a count or cached total that
 * would pass `Number.MAX_SAFE_INTEGER`. Nothing was changed by the call that threw.
 */
export class OutOfRangeError extends ShardcountError {
  /** Stable code of this error: `OUT_OF_RANGE`. */
  static readonly code = 'OUT_OF_RANGE';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('OUT_OF_RANGE', message, options);
  }
}
