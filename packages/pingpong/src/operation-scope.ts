/**
 * Cancellation and deadlines of pingpong's operations, on storage's shared vocabulary: an
 * abort before anything is written rejects with the signal's typed error
 * (`OperationAbortedError` or `DeadlineExceededError`), an abort while a write is in flight
 * with `AmbiguousCommitError` (the write may still apply). Without a signal or a deadline
 * none of this runs, so such calls allocate nothing for it.
 */
import {
  assertCallOptions,
  CALL_OPTION_FIELDS,
  type CallOptions,
  type EntityStore,
  type ErrorContext,
  type OperationSignal,
  openOperationSignal,
  readOptions,
  type StoreCallOptions,
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
 * for reads (the cache's, which take no signal): their result can be dropped safely.
 */
export function readWithin<T>(read: Promise<T>, scope: OperationSignal | undefined): Promise<T> {
  return scope === undefined ? read : scope.race(read);
}

/**
 * Settles like the single write `write` (a cache `incr`), or rejects as soon as the
 * operation ends: with the typed error when it ended before the write was sent (the write
 * is then not sent), with `AmbiguousCommitError` while it is in flight.
 */
export function writeWithin<T>(
  write: () => Promise<T>,
  scope: OperationSignal | undefined,
): Promise<T> {
  if (scope === undefined) return write();
  scope.throwIfEnded();
  return scope.raceCommit(write());
}

/**
 * Runs `work` in a new transaction of `store` under the operation's signal (the store's
 * `TransactOptions.signal`): an abort before the commit (while `work` runs, in a retry's
 * backoff) rejects at once with the typed error and rolls back, so nothing is written; an
 * abort while the commit is in flight rejects with `AmbiguousCommitError`.
 */
export function transactWithin<R>(
  store: EntityStore,
  scope: OperationSignal | undefined,
  work: () => Promise<R>,
): Promise<R> {
  return scope === undefined
    ? store.transactNew(work)
    : store.transactNew(work, { signal: scope.signal });
}

/** The store call options carrying the operation's signal; `undefined` without one. */
export function storeCall(scope: OperationSignal | undefined): StoreCallOptions | undefined {
  return scope === undefined ? undefined : { signal: scope.signal };
}
