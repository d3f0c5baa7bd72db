import {
  AmbiguousCommitError,
  ContentionError,
  LimitExceededError,
  ShardcountError,
  StoreUnavailableError,
} from '../errors/index.js';

/** The backend operation a Datastore error came from; decides how it is mapped. */
export type DatastoreOperation = 'beginTransaction' | 'lookup' | 'commit' | 'rollback' | 'query';

/** gRPC status codes the mapping distinguishes (see `@grpc/grpc-js` `status`). */
const GrpcStatus = Object.freeze({
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
});

/** Names of all gRPC status codes, for messages. */
const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/**
 * Codes that, during a commit, leave its outcome unknown: the request may have reached
 * Datastore and been applied before the connection or the deadline gave out.
 */
const AMBIGUOUS_DURING_COMMIT: ReadonlySet<number> = new Set([
  GrpcStatus.CANCELLED,
  GrpcStatus.UNKNOWN,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNAVAILABLE,
]);

/**
 * INVALID_ARGUMENT messages that mean "the call was too big", e.g. `cannot write more than
 * 500 entities in a single call`, `cannot get more than 1000 keys`, `operating on too many
 * entity groups in a single transaction` (legacy mode), `request payload size exceeds the
 * limit`, `entity is too big`.
 */
const OVER_LIMIT_MESSAGE = /more than \d+|too many|too big|too large|exceeds the limit/i;

/**
 * The error a Datastore call that did not settle within `callTimeoutMs` fails with, before
 * mapping: shaped like the `DEADLINE_EXCEEDED` google-gax rejects with (numeric `code`,
 * `details`), so {@link mapDatastoreError} treats a call the backend gave up on exactly
 * like one the library gave up on: `StoreUnavailableError` before a commit,
 * `AmbiguousCommitError` for a commit.
 *
 * @param timeoutMs - the `callTimeoutMs` the call ran out of, in milliseconds
 */
export function datastoreCallTimeoutError(timeoutMs: number): Error {
  const details = `no answer within callTimeoutMs (${timeoutMs} ms)`;
  return Object.assign(new Error(`${GrpcStatus.DEADLINE_EXCEEDED} DEADLINE_EXCEEDED: ${details}`), {
    code: GrpcStatus.DEADLINE_EXCEEDED,
    details,
    callTimeoutMs: timeoutMs,
  });
}

/** The gRPC status code carried by `error`, if it looks like a gRPC/gax error. */
export function grpcCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' && Number.isInteger(code) && code > 0 && code <= 16
    ? code
    : undefined;
}

/** Where a Datastore error happened, for the mapped error's message and context. */
export interface DatastoreErrorSite {
  /** The backend operation that failed. */
  readonly operation: DatastoreOperation;
  /** The backend's description, e.g. `datastore(my-project/my-namespace)`. */
  readonly description: string;
  /** The backend transaction's id, when the call ran in one. */
  readonly transaction?: string;
}

/**
 * Maps an error thrown by `@google-cloud/datastore` to a shardcount error, keeping the
 * original as `cause`:
 *
 * - `ABORTED` (10) → {@link ContentionError}: another transaction won; nothing was written.
 * - during `commit`, `CANCELLED` (1), `UNKNOWN` (2), `DEADLINE_EXCEEDED` (4), `INTERNAL`
 *   (13), `UNAVAILABLE` (14) → {@link AmbiguousCommitError}: the commit may have applied.
 * - `INVALID_ARGUMENT` (3) saying the call was too big → {@link LimitExceededError}.
 * - any other gRPC status (including the transient codes above before a commit) →
 *   {@link StoreUnavailableError}: the call was refused and wrote nothing.
 *
 * Shardcount errors and errors without a gRPC status (programming errors, the library's
 * own argument checks) are returned unchanged.
 */
export function mapDatastoreError(error: unknown, site: DatastoreErrorSite): Error {
  if (error instanceof ShardcountError) return error;
  const code = grpcCode(error);
  if (code === undefined) {
    return error instanceof Error ? error : new Error(String(error), { cause: error });
  }
  const status = `${STATUS_NAMES[code] ?? 'UNKNOWN_STATUS'} (${code})`;
  const detail = describeCause(error);
  const where = `${site.description} ${site.operation}${site.transaction ? ` in transaction ${site.transaction}` : ''}`;
  const options = {
    cause: error,
    context: {
      operation: site.operation,
      grpcCode: code,
      backend: site.description,
      ...(site.transaction === undefined ? {} : { transaction: site.transaction }),
    },
  };
  if (code === GrpcStatus.ABORTED) {
    return new ContentionError(
      `${where} lost a race (${status}: ${detail}); nothing was written.`,
      options,
    );
  }
  if (site.operation === 'commit' && AMBIGUOUS_DURING_COMMIT.has(code)) {
    return new AmbiguousCommitError(
      `${where} failed with ${status}: ${detail}. The commit may or may not have been applied.`,
      options,
    );
  }
  if (code === GrpcStatus.INVALID_ARGUMENT && OVER_LIMIT_MESSAGE.test(detail)) {
    return new LimitExceededError(
      `${where} exceeded a Datastore limit (${status}: ${detail}); nothing was written.`,
      options,
    );
  }
  return new StoreUnavailableError(
    `${where} failed with ${status}: ${detail}; nothing was written.`,
    options,
  );
}

function describeCause(error: unknown): string {
  const { details, message } = error as { details?: unknown; message?: unknown };
  if (typeof details === 'string' && details.length > 0) return details;
  if (typeof message === 'string' && message.length > 0) return message;
  return 'no details';
}
