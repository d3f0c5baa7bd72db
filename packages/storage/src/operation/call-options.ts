import type { ErrorContext } from '../errors/shardcount-error.js';
import { assertTimerMs, invalidArgument } from '../validation/assert.js';

/**
 * Cancellation and deadline of one call, accepted by every asynchronous public method of
 * core, pingpong and local-cache.
 */
export interface CallOptions {
  /**
   * Gives up on the call when it aborts: before anything is committed the call rejects with
   * `OperationAbortedError` (the signal's `reason` as `cause`) and nothing is written; while a
   * commit is in flight it rejects with `AmbiguousCommitError`.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Deadline of the call in whole milliseconds, from 1 to 2^31 − 1; when it passes the call
   * rejects with `DeadlineExceededError` (or `AmbiguousCommitError` during a commit). Retries
   * and backoff stop at it. Overrides the service-wide default deadline.
   */
  readonly timeoutMs?: number | undefined;
}

/** The fields of {@link CallOptions}, to add to a method's `readOptions` field list. */
export const CALL_OPTION_FIELDS = ['signal', 'timeoutMs'] as const;

/**
 * Checks the {@link CallOptions} fields of an options object read by `readOptions`:
 * `signal` an `AbortSignal`, `timeoutMs` a whole number of milliseconds from 1.
 *
 * @param fields - the fields as read (still unchecked)
 * @param argument - the options parameter's name in messages, e.g. `options`
 * @param context - more context for the error (a counter name, a key)
 */
export function assertCallOptions(
  fields: { readonly signal?: unknown; readonly timeoutMs?: unknown },
  argument: string,
  context?: ErrorContext,
): asserts fields is CallOptions {
  if (fields.signal !== undefined && !isAbortSignal(fields.signal)) {
    throw invalidArgument(`${argument}.signal`, 'an AbortSignal', fields.signal, context);
  }
  if (fields.timeoutMs !== undefined) {
    assertTimerMs(fields.timeoutMs, `${argument}.timeoutMs`, 1, context);
  }
}

/** `instanceof AbortSignal` that answers `false` instead of throwing for a revoked proxy. */
function isAbortSignal(value: unknown): boolean {
  try {
    return value instanceof AbortSignal;
  } catch {
    return false;
  }
}
