import { ShardcountError, type ShardcountErrorOptions } from './shardcount-error.js';

/**
 * A transaction lost an optimistic-concurrency race: another transaction touched the same entity and committed first. Nothing of the losing transaction was written, so it is safe to retry; `transact` does so by itself until its retry budget is spent.
 */
export class ContentionError extends ShardcountError {
  /** Stable code of this error: `CONTENTION`. */
  static readonly code = 'CONTENTION';

  /**
   * Creates the error.
   *
   * @param message - what happened, for people
   * @param options - cause and context
   */
  constructor(message: string, options: ShardcountErrorOptions = {}) {
    super('CONTENTION', message, options);
  }
}
