export { AmbiguousCommitError } from './ambiguous-commit-error.js';
export { CacheUnavailableError } from './cache-unavailable-error.js';
export { ContentionError } from './contention-error.js';
export { DeadlineExceededError } from './deadline-exceeded-error.js';
export { InvalidArgumentError } from './invalid-argument-error.js';
export { LimitExceededError } from './limit-exceeded-error.js';
export { OperationAbortedError } from './operation-aborted-error.js';
export { OutOfRangeError } from './out-of-range-error.js';
export {
  type ErrorContext,
  isShardcountError,
  ShardcountError,
  type ShardcountErrorOptions,
} from './shardcount-error.js';
export { StoreUnavailableError } from './store-unavailable-error.js';
