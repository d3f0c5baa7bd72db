import { AmbiguousCommitError } from '../errors/ambiguous-commit-error.js';
import { DeadlineExceededError } from '../errors/deadline-exceeded-error.js';
import { OperationAbortedError } from '../errors/operation-aborted-error.js';
import type { ErrorContext } from '../errors/shardcount-error.js';
import { onAbort } from './abort-listeners.js';
import type { CallOptions } from './call-options.js';

/**
 * The signal one operation runs under, combining the caller's `signal` and deadline. Its
 * `reason`, once aborted, is always the typed error to reject with: an
 * `OperationAbortedError` (the caller's reason as `cause`) or a `DeadlineExceededError`.
 */
export interface OperationSignal {
  /** Aborts when the caller's signal aborts or the deadline passes. */
  readonly signal: AbortSignal;
  /** Throws the typed error when the operation has been aborted or is past its deadline. */
  throwIfEnded(): void;
  /** Stops the deadline timer and detaches from the caller's signal; call it when done. */
  dispose(): void;
}

/**
 * Opens the signal of one operation from its {@link CallOptions} and the service-wide
 * default deadline. Returns `undefined` when there is neither a signal nor a deadline, so an
 * operation without them allocates nothing.
 *
 * @param options - the call's `signal` and `timeoutMs`, already checked
 * @param defaultTimeoutMs - the service-wide deadline, used when `timeoutMs` is not given
 * @param context - names the operation in the errors (`operation`, `counterName`, `key`)
 */
export function openOperationSignal(
  options: CallOptions | undefined,
  defaultTimeoutMs: number | undefined,
  context: ErrorContext,
): OperationSignal | undefined {
  const callerSignal = options?.signal;
  const timeoutMs = options?.timeoutMs ?? defaultTimeoutMs;
  if (callerSignal === undefined && timeoutMs === undefined) return undefined;
  return new CombinedSignal(callerSignal, timeoutMs, context);
}

class CombinedSignal implements OperationSignal {
  readonly #controller = new AbortController();
  // Read once: AbortController's getter is measurably slow on Node 20 in a hot path.
  readonly signal: AbortSignal = this.#controller.signal;
  #ended: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopWaitingForCaller: (() => void) | undefined;

  constructor(
    callerSignal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    context: ErrorContext,
  ) {
    if (callerSignal !== undefined) {
      if (callerSignal.aborted) {
        this.#end(abortedError(callerSignal.reason, context));
        return;
      }
      this.#stopWaitingForCaller = onAbort(callerSignal, () =>
        this.#end(abortedError(callerSignal.reason, context)),
      );
    }
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(() => this.#end(deadlineError(timeoutMs, context)), timeoutMs);
      // A pending deadline alone must not keep a process alive that has nothing else to do.
      this.#timer.unref();
    }
  }

  throwIfEnded(): void {
    if (this.#ended !== undefined) throw this.#ended;
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopWaitingForCaller?.();
    this.#stopWaitingForCaller = undefined;
  }

  #end(reason: Error): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    this.dispose();
    this.#controller.abort(reason);
  }
}

function describeOperation(context: ErrorContext): string {
  const operation = context.operation === undefined ? 'The operation' : String(context.operation);
  const subject = context.counterName ?? context.key;
  return subject === undefined ? operation : `${operation} of ${JSON.stringify(subject)}`;
}

function abortedError(reason: unknown, context: ErrorContext): OperationAbortedError {
  if (reason instanceof OperationAbortedError) return reason;
  return new OperationAbortedError(
    `${describeOperation(context)} was aborted by the caller's signal before anything was committed.`,
    { cause: reason, context },
  );
}

function deadlineError(timeoutMs: number, context: ErrorContext): DeadlineExceededError {
  return new DeadlineExceededError(
    `${describeOperation(context)} did not finish within its ${timeoutMs} ms deadline; nothing was committed.`,
    { context: { ...context, timeoutMs } },
  );
}

/**
 * The typed error an aborted signal stands for: its reason when that already is an
 * `OperationAbortedError` or `DeadlineExceededError` (a signal from
 * {@link openOperationSignal}), otherwise an `OperationAbortedError` with the reason as
 * `cause` (a caller's own signal handed straight to a store).
 */
export function abortError(
  signal: AbortSignal,
  context: ErrorContext = {},
): OperationAbortedError | DeadlineExceededError {
  const { reason } = signal;
  if (reason instanceof DeadlineExceededError) return reason;
  return abortedError(reason, context);
}

/** Throws {@link abortError} when `signal` is given and aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, context?: ErrorContext): void {
  if (signal?.aborted === true) throw abortError(signal, context);
}

/**
 * Settles like `promise`, or rejects with {@link abortError} as soon as `signal` aborts,
 * whichever comes first. The work behind `promise` goes on; its result is dropped (and its
 * rejection handled). Use it only where dropping the result is safe (reads, waits): a commit
 * goes through {@link raceCommit}.
 */
export function raceSignal<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  context?: ErrorContext,
): Promise<T> {
  if (signal === undefined) return promise;
  return race(promise, signal, () => abortError(signal, context));
}

/**
 * Like {@link raceSignal} for a commit: an abort while it is in flight rejects with an
 * `AmbiguousCommitError` (cause: the abort error), since the commit may still apply. A
 * signal already aborted before the commit started is the caller's to check first.
 */
export function raceCommit<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  context: ErrorContext = {},
): Promise<T> {
  if (signal === undefined) return promise;
  return race(
    promise,
    signal,
    () =>
      new AmbiguousCommitError(
        `${describeOperation(context)} was aborted while its commit was in flight; the commit may or may not have been applied.`,
        { cause: abortError(signal, context), context },
      ),
  );
}

function race<T>(promise: Promise<T>, signal: AbortSignal, failure: () => Error): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(failure());
  }
  return new Promise<T>((resolve, reject) => {
    const stopWaiting = onAbort(signal, () => {
      promise.catch(() => undefined);
      reject(failure());
    });
    promise.then(
      (value) => {
        stopWaiting();
        resolve(value);
      },
      (error: unknown) => {
        stopWaiting();
        reject(error);
      },
    );
  });
}

/**
 * Waits `ms` milliseconds, or rejects with {@link abortError} as soon as `signal` aborts
 * (at once when it already has). Backoff between retries waits through this, so retries stop
 * at the deadline.
 */
export function abortableDelay(
  ms: number,
  signal: AbortSignal | undefined,
  context?: ErrorContext,
): Promise<void> {
  if (signal === undefined) return new Promise((resolve) => setTimeout(resolve, ms));
  if (signal.aborted) return Promise.reject(abortError(signal, context));
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stopWaiting();
      resolve();
    }, ms);
    const stopWaiting = onAbort(signal, () => {
      clearTimeout(timer);
      reject(abortError(signal, context));
    });
  });
}
