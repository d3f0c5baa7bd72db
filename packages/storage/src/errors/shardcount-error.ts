/**
 * Context attached to every {@link ShardcountError}: the names and values that tell which
 * counter, key or operation the error is about. Values are plain data so errors log cleanly.
 */
export type ErrorContext = Readonly<Record<string, string | number | boolean | undefined>>;

/** Options accepted by every {@link ShardcountError} constructor. */
export interface ShardcountErrorOptions {
  /** The lower-level error that caused this one. */
  readonly cause?: unknown;
  /** Names and values that identify what failed (counter name, key, operation). */
  readonly context?: ErrorContext;
}

/**
 * Base class of every error shardcount throws. Each subclass has a stable {@link code}
 * that callers can switch on; the message is for people and may change.
 */
export class ShardcountError extends Error {
  /** Stable, machine-readable identifier of the kind of failure. */
  readonly code: string;
  /** What the error is about (counter name, key, operation). */
  readonly context: ErrorContext;

  /**
   * Creates an error with an explicit code; subclasses pass their own.
   *
   * @param code - stable identifier, e.g. `CONTENTION`
   * @param message - human-readable explanation
   * @param options - cause and context
   */
  constructor(code: string, message: string, options: ShardcountErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = options.context ?? {};
  }
}

/**
 * Whether `value` is an error thrown by shardcount, optionally of one `code`.
 *
 * @example
 * ```ts
 * if (isShardcountError(err, 'CACHE_UNAVAILABLE')) serveFromStore();
 * ```
 */
export function isShardcountError(value: unknown, code?: string): value is ShardcountError {
  return value instanceof ShardcountError && (code === undefined || value.code === code);
}
