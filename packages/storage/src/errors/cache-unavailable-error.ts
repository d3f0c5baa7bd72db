import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * The cache did not answer within its timeout or refused the connection. Caches are best-effort: each package documents what it does when this happens.
 */
export class CacheUnavailableError extends ShardcountError {
  /** Stable code of this error: `CACHE_UNAVAILABLE`. */
  static readonly code = 'CACHE_UNAVAILABLE';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('CACHE_UNAVAILABLE', message, options);
  }
}
