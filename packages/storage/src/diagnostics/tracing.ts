import { channel, type TracingChannel, tracingChannel } from 'node:diagnostics_channel';
import { assertBoolean, assertOneOf } from '../validation/assert.js';

/** The shardcount packages that publish operations. */
export type ShardcountPackageName = 'core' | 'pingpong' | 'local-cache' | 'storage';

/** Attribute values an operation may carry (OpenTelemetry's primitive attribute values). */
export type OperationAttributeValue = string | number | boolean;

/**
 * What a shardcount operation publishes on its `TracingChannel`
 * (`shardcount:<package>:<operation>`, e.g. `shardcount:core:increment`). The same object
 * travels through the channel's `start`, `end`, `asyncStart`, `asyncEnd` and `error`
 * events; Node sets `result` or `error` on it when the operation settles.
 *
 * Subscribers must treat it as read-only.
 */
export interface OperationMessage {
  /** Package of the operation. */
  readonly package: ShardcountPackageName;
  /** Operation name, e.g. `increment`, `getCounter`, `flush`, `get`. */
  readonly operation: string;
  /**
   * The counter (core, pingpong) or key (local-cache) the operation is about, when there is
   * one. High cardinality: telemetry records it only when asked to.
   */
  readonly subject?: string | undefined;
  /**
   * Facts the operation learned while it ran (attempts, shard, cache outcome, items), named
   * `shardcount.*` as they should appear in telemetry. Filled in before the operation settles.
   */
  readonly attributes: Record<string, OperationAttributeValue>;
  /** Set by Node when the operation resolved. */
  result?: unknown;
  /** Set by Node when the operation failed. */
  error?: unknown;
}

/**
 * What a call to a backend (the entity store's Datastore or memory backend, the cache's
 * memcached, Valkey or memory store) publishes on `shardcount:storage:call`.
 */
export interface BackendCallMessage {
  /**
   * The backend, as OpenTelemetry's `db.system.name`: `memcached`, `valkey`, `memory`, or
   * `gcp.datastore` (no registered value exists for Cloud Datastore).
   */
  readonly system: string;
  /** The call, e.g. `lookup`, `commit`, `get`, `gets`, `cas`, `incr`. */
  readonly operation: string;
  /** Keys or mutations the call carries, when it is a batch. */
  readonly batchSize?: number | undefined;
  /** Set by Node when the call resolved. */
  result?: unknown;
  /** Set by Node when the call failed. */
  error?: unknown;
}

/**
 * An event a package reports for metrics (contention, retries, cache hits and misses,
 * pingpong's moved and lost counts, local-cache's loads and stale serves), published on
 * `shardcount:events`. `count` is how many of the thing happened (1 for most events).
 */
export interface ShardcountEventMessage {
  /** Package that reported it. */
  readonly package: ShardcountPackageName;
  /** Event name as the package's typed events call it, e.g. `contention`, `cacheHit`. */
  readonly event: string;
  /** The counter or key concerned, when there is one (high cardinality, opt-in in telemetry). */
  readonly subject?: string | undefined;
  /** How many units the event stands for (e.g. increments moved by a flush). */
  readonly count: number;
}

/** Name of the `TracingChannel` of an operation: `shardcount:<package>:<operation>`. */
export function operationChannelName(pkg: ShardcountPackageName, operation: string): string {
  return `shardcount:${pkg}:${operation}`;
}

/** Name of the `TracingChannel` of backend calls. */
export const BACKEND_CALL_CHANNEL = 'shardcount:storage:call';

/** Name of the plain channel of metric events. */
export const EVENTS_CHANNEL = 'shardcount:events';

/** The `TracingChannel` of one operation (Node keeps one per name, so this is cheap to repeat). */
export function operationChannel(
  pkg: ShardcountPackageName,
  operation: string,
): TracingChannel<unknown, OperationMessage> {
  return tracingChannel<unknown, OperationMessage>(operationChannelName(pkg, operation));
}

/**
 * The `TracingChannel` of each named operation of one package, keyed by operation name.
 *
 * @param pkg - the publishing package
 * @param operations - its operation names (each also listed in {@link SHARDCOUNT_OPERATIONS})
 */
export function operationChannels<const O extends string>(
  pkg: ShardcountPackageName,
  operations: readonly O[],
): Readonly<Record<O, TracingChannel<unknown, OperationMessage>>> {
  const channels = {} as Record<O, TracingChannel<unknown, OperationMessage>>;
  for (const operation of operations) channels[operation] = operationChannel(pkg, operation);
  return Object.freeze(channels);
}

/**
 * The message of one traced operation; `subject` is kept only when it is a string (the
 * counter name or key, which may still be unchecked when the message is built).
 */
export function operationMessage(
  pkg: ShardcountPackageName,
  operation: string,
  subject: unknown,
): OperationMessage {
  return {
    package: pkg,
    operation,
    subject: typeof subject === 'string' ? subject : undefined,
    attributes: {},
  };
}

/** Records an attribute on an operation's message, when the operation is traced. */
export function setOperationAttribute(
  message: OperationMessage | undefined,
  name: string,
  value: OperationAttributeValue,
): void {
  if (message !== undefined) message.attributes[name] = value;
}

/**
 * Whether each package's operations publish on their channels at all; see
 * {@link setOperationTracing}. Read on every traced call, next to `hasSubscribers`.
 */
export const OPERATION_TRACING: Readonly<Record<ShardcountPackageName, boolean>> = {
  core: true,
  pingpong: true,
  'local-cache': true,
  storage: true,
};

/**
 * Switches one package's operation channels off (or back on) for this process. Off, its
 * operations skip their `TracingChannel` entirely, even the check for subscribers, so
 * `@shardcount/opentelemetry` sees no spans of that package (backend calls and events are
 * still published). On by default; a process that never subscribes pays one
 * `hasSubscribers` read per call with it on. It exists so the benchmark can measure that
 * read against no channel at all in the same run (the "tracing off" rows).
 *
 * @param pkg - the package (`core` and `local-cache` honour it today)
 * @param enabled - `true` to publish (the default), `false` to skip the channels
 * @throws InvalidArgumentError when `pkg` is not a package or `enabled` not a boolean
 */
export function setOperationTracing(pkg: ShardcountPackageName, enabled: boolean): void {
  assertOneOf(pkg, 'pkg', ['core', 'pingpong', 'local-cache', 'storage']);
  assertBoolean(enabled, 'enabled');
  (OPERATION_TRACING as Record<ShardcountPackageName, boolean>)[pkg] = enabled;
}

const backendCalls = tracingChannel<unknown, BackendCallMessage>(BACKEND_CALL_CHANNEL);
const events = channel(EVENTS_CHANNEL);

/**
 * Runs `operation` traced on `tracing`. Without a subscriber it is a plain call: no message
 * is built, no closure kept, so tracing off costs one property read.
 *
 * @param tracing - the operation's channel, from {@link operationChannel}
 * @param message - builds the message; called only when someone subscribes
 * @param operation - the work; receives the message (or `undefined`) to add attributes to
 */
export function traceOperation<T>(
  tracing: TracingChannel<unknown, OperationMessage>,
  message: () => OperationMessage,
  operation: (message: OperationMessage | undefined) => Promise<T>,
): Promise<T> {
  if (!tracing.hasSubscribers) return operation(undefined);
  const built = message();
  return tracing.tracePromise(() => operation(built), built);
}

/**
 * Runs one backend call traced on {@link BACKEND_CALL_CHANNEL}; a plain call without a
 * subscriber.
 */
export function traceBackendCall<T>(
  system: string,
  operation: string,
  batchSize: number | undefined,
  call: () => Promise<T>,
): Promise<T> {
  if (!backendCalls.hasSubscribers) return call();
  return backendCalls.tracePromise(call, { system, operation, batchSize });
}

/** Publishes a metric event on {@link EVENTS_CHANNEL} when someone listens. */
export function publishEvent(
  pkg: ShardcountPackageName,
  event: string,
  subject: string | undefined,
  count = 1,
): void {
  if (events.hasSubscribers) {
    const message: ShardcountEventMessage = { package: pkg, event, subject, count };
    events.publish(message);
  }
}

/**
 * Every operation each package publishes, so a subscriber can find the channels (Node's
 * diagnostics channels have no wildcard). A package adds its operation here when it starts
 * publishing one.
 */
export const SHARDCOUNT_OPERATIONS: Readonly<Record<ShardcountPackageName, readonly string[]>> =
  Object.freeze({
    core: Object.freeze([
      'increment',
      'decrement',
      'getCounter',
      'getCounters',
      'listCounters',
      'createCounter',
      'updateCounter',
      'reset',
      'delete',
    ]),
    pingpong: Object.freeze([
      'increment',
      'get',
      'getMany',
      'flush',
      'reset',
      'delete',
      'listCounters',
    ]),
    'local-cache': Object.freeze(['get', 'getMany', 'invalidate', 'invalidateMany']),
    storage: Object.freeze([]),
  });
