import { AmbiguousCommitError, type ShardcountError } from '../errors/index.js';
import { abortError } from '../operation/index.js';

const READS: ReadonlySet<string> = new Set(['get', 'getMany', 'gets']);

/**
 * The error of a cache call abandoned on its signal while in flight: for a read the abort
 * error itself (nothing changes either way), for a write `AmbiguousCommitError` with the
 * abort error as `cause`, since the server may still apply it.
 *
 * @param system - the cache, for the message (`memcached`, `Valkey`)
 * @param operation - the store's verb (`get`, `incr`, …)
 * @param key - the caller's key (the first key of a `getMany`)
 * @param signal - the aborted signal
 */
export function abandonedCallError(
  system: string,
  operation: string,
  key: string,
  signal: AbortSignal,
): ShardcountError {
  const context = { operation, key };
  const aborted = abortError(signal, context);
  if (READS.has(operation)) return aborted;
  return new AmbiguousCommitError(
    `${system} ${operation} of cache key "${key}" was abandoned on its signal while in flight; it may or may not have been applied.`,
    { cause: aborted, context },
  );
}
