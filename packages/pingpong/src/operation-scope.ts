/**
 * Cancellation and deadlines of pingpong's operations, on storage's shared vocabulary: an
 * abort before anything is written rejects with the signal's typed error
 * (`OperationAbortedError` or `DeadlineExceededError`), an abort while a write is in flight
 * with `AmbiguousCommitError` (the write may still apply). Without a signal or a deadline
 * none of this runs, so such calls allocate nothing for it.
 */
import {
  AmbiguousCommitError,
  assertCallOptions,
  CALL_OPTION_FIELDS,
  type CallOptions,
  type EntityStore,
  type ErrorContext,
  type OperationSignal,
  openOperationSignal,
  raceCommit,
  raceSignal,
  readOptions,
} from '@shardcount/storage';

/** Reads the options of a method that takes only {@link CallOptions}; checked, before any I/O. */
export function readCallOptions(options: unknown, context?: ErrorContext): CallOptions {
  const fields = readOptions(options, 'options', CALL_OPTION_FIELDS, context);
  assertCallOptions(fields, 'options', context);
  return fields;
}

/**
 * The signal of one operation: the caller's `signal` and `timeoutMs` (else the counter's
 * default `timeoutMs`), or `undefined` when there is neither.
 */
export function openScope(
  options: CallOptions | undefined,
  defaultTimeoutMs: number | undefined,
  context: ErrorContext,
): OperationSignal | undefined {
  return openOperationSignal(options, defaultTimeoutMs, context);
}

/**
 * Settles like `read`, or rejects with the typed error as soon as the operation ends. Only
 * for reads: their result can be dropped safely.
 */
export function readWithin<T>(
  read: Promise<T>,
  scope: OperationSignal | undefined,
  context: ErrorContext,
): Promise<T> {
  return scope === undefined ? read : raceSignal(read, scope.signal, context);
}

/**
 * Settles like the single write `write` (a cache `incr`), or rejects as soon as the
 * operation ends: with the typed error when it ended before the write was sent (the write
 * is then not sent), with `AmbiguousCommitError` while it is in flight.
 */
export function writeWithin<T>(
  write: () => Promise<T>,
  scope: OperationSignal | undefined,
  context: ErrorContext,
): Promise<T> {
  if (scope === undefined) return write();
  scope.throwIfEnded();
  return raceCommit(write(), scope.signal, context);
}

/**
 * Runs `work` in a new transaction of `store` under the operation's signal. Before the
 * commit (while `work` runs, between retries) an abort rejects at once with the typed error,
 * and `work` checks the signal again before it returns, so the abandoned transaction rolls
 * back: nothing is written. Once `work` has returned, the commit is in flight, and an abort
 * rejects with `AmbiguousCommitError` (it may still apply).
 */
export function transactWithin<R>(
  store: EntityStore,
  scope: OperationSignal | undefined,
  context: ErrorContext,
  work: () => Promise<R>,
): Promise<R> {
  if (scope === undefined) return store.transactNew(work);
  scope.throwIfEnded();
  let committing = false;
  const run = store.transactNew(
    async () => {
      scope.throwIfEnded();
      const result = await work();
      // The last moment to give up without writing: an abort after this is ambiguous.
      scope.throwIfEnded();
      committing = true;
      return result;
    },
    {
      // A commit that lost a race wrote nothing: until the next attempt's work returns, an
      // abort (during the backoff, say) is again a clean one.
      onRetry: () => {
        committing = false;
      },
    },
  );
  const { signal } = scope;
  return new Promise<R>((resolve, reject) => {
    const onAbort = (): void => {
      run.catch(() => undefined);
      if (!committing) {
        reject(signal.reason);
        return;
      }
      reject(
        new AmbiguousCommitError(
          'The operation was aborted while its commit was in flight; the commit may or may not have been applied.',
          { cause: signal.reason, context },
        ),
      );
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    run.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
