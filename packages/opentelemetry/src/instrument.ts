import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import {
  type Attributes,
  context,
  type Meter,
  type MeterProvider,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import {
  BACKEND_CALL_CHANNEL,
  type BackendCallMessage,
  EVENTS_CHANNEL,
  InvalidArgumentError,
  type OperationMessage,
  operationChannelName,
  SHARDCOUNT_OPERATIONS,
  type ShardcountEventMessage,
  type ShardcountPackageName,
} from '@shardcount/storage';
import { errorType } from './error-type.js';
import { eventCounterName } from './metric-names.js';

/** Options of {@link instrumentShardcount}. */
export interface InstrumentShardcountOptions {
  /** Where spans go; the globally registered provider (`trace.getTracerProvider()`) by default. */
  readonly tracerProvider?: TracerProvider;
  /** Where metrics go; the globally registered provider (`metrics.getMeterProvider()`) by default. */
  readonly meterProvider?: MeterProvider;
  /**
   * Put counter names and cache keys on spans (`shardcount.counter.name`) and event metrics.
   * Off by default: names are unbounded, and a metric attribute per name makes one time series
   * per counter (cardinality).
   */
  readonly recordCounterNames?: boolean;
}

/** What {@link instrumentShardcount} returns. */
export interface ShardcountInstrumentation {
  /** Unsubscribes from every channel; later operations produce no telemetry. Idempotent. */
  disable(): void;
}

/** Name and version under which the tracer and the meter are obtained. */
export const INSTRUMENTATION_SCOPE = '@shardcount/opentelemetry';

/** The `TracingChannel` events this package subscribes to, in Node's subscriber shape. */
interface TracingHandlers<M> {
  start(message: M): void;
  end(message: M): void;
  asyncStart(message: M): void;
  asyncEnd(message: M): void;
  error(message: M): void;
}

interface OpenOperation {
  readonly span: Span;
  readonly startedAt: number;
}

/**
 * Turns shardcount's diagnostics channels into OpenTelemetry spans and metrics.
 *
 * Spans: one per operation, named `shardcount.<package>.<operation>` (e.g.
 * `shardcount.core.increment`), with the attributes the operation reported
 * (`shardcount.attempts`, `shardcount.shard`, `shardcount.cache.outcome`, …), and one client
 * span per backend call under it, named `<call> <system>` with `db.system.name`
 * (`memcached`, `valkey`, `memory`, or `gcp.datastore`), `db.operation.name` and
 * `db.operation.batch.size`. A failed operation records the exception, sets status ERROR
 * and `error.type`.
 *
 * Metrics: `shardcount.operation.duration` (histogram, seconds; `shardcount.package`,
 * `shardcount.operation`, `error.type`), `db.client.operation.duration` (histogram, seconds;
 * `db.system.name`, `db.operation.name`, `error.type`), and one counter per reported event,
 * `shardcount.<package>.<event>` (e.g. `shardcount.core.contention`,
 * `shardcount.pingpong.moved`, `shardcount.local_cache.stale_served`).
 *
 * Costs nothing until called: the packages publish only while someone subscribes.
 *
 * @param options - providers (global ones by default) and whether to record counter names
 * @returns a handle whose `disable()` stops the instrumentation
 */
export function instrumentShardcount(
  options: InstrumentShardcountOptions = {},
): ShardcountInstrumentation {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('instrumentShardcount options must be an object.', {
      context: { argument: 'options' },
    });
  }
  const tracer: Tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(
    INSTRUMENTATION_SCOPE,
  );
  const meter: Meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(
    INSTRUMENTATION_SCOPE,
  );
  const recordNames = options.recordCounterNames === true;
  const operationDuration = meter.createHistogram('shardcount.operation.duration', {
    description: 'Duration of shardcount operations.',
    unit: 's',
  });
  const backendDuration = meter.createHistogram('db.client.operation.duration', {
    description: 'Duration of database client operations.',
    unit: 's',
  });
  // The operation span in force, so backend calls made by the operation become its children.
  const currentOperation = new AsyncLocalStorage<Span>();
  const open = new WeakMap<object, OpenOperation>();
  const teardown: Array<() => void> = [];

  for (const [pkg, operations] of Object.entries(SHARDCOUNT_OPERATIONS) as Array<
    [ShardcountPackageName, readonly string[]]
  >) {
    for (const operation of operations) {
      const channel = tracingChannel<Span, OperationMessage>(operationChannelName(pkg, operation));
      channel.start.bindStore(currentOperation, (message) => {
        const attributes: Attributes = {
          'shardcount.package': message.package,
          'shardcount.operation': message.operation,
        };
        if (recordNames && message.subject !== undefined) {
          attributes['shardcount.counter.name'] = message.subject;
        }
        const span = tracer.startSpan(
          `shardcount.${message.package}.${message.operation}`,
          { kind: SpanKind.INTERNAL, attributes },
          context.active(),
        );
        open.set(message, { span, startedAt: performance.now() });
        return span;
      });
      const handlers = settleHandlers<OperationMessage>((message) => {
        const state = open.get(message);
        if (state === undefined) return;
        open.delete(message);
        const type = message.error === undefined ? undefined : errorType(message.error);
        finishSpan(state.span, message.attributes, message.error, type);
        operationDuration.record(
          (performance.now() - state.startedAt) / 1000,
          withErrorType(
            { 'shardcount.package': message.package, 'shardcount.operation': message.operation },
            type,
          ),
        );
      });
      channel.subscribe(handlers);
      teardown.push(() => {
        channel.unsubscribe(handlers);
        channel.start.unbindStore(currentOperation);
      });
    }
  }

  const backend = tracingChannel<unknown, BackendCallMessage>(BACKEND_CALL_CHANNEL);
  const backendHandlers = settleHandlers<BackendCallMessage>(
    (message) => {
      const state = open.get(message);
      if (state === undefined) return;
      open.delete(message);
      const type = message.error === undefined ? undefined : errorType(message.error);
      finishSpan(state.span, {}, message.error, type);
      backendDuration.record(
        (performance.now() - state.startedAt) / 1000,
        withErrorType(
          { 'db.system.name': message.system, 'db.operation.name': message.operation },
          type,
        ),
      );
    },
    (message) => {
      const parent = currentOperation.getStore();
      const attributes: Attributes = {
        'db.system.name': message.system,
        'db.operation.name': message.operation,
      };
      if (message.batchSize !== undefined) {
        attributes['db.operation.batch.size'] = message.batchSize;
      }
      const span = tracer.startSpan(
        `${message.operation} ${message.system}`,
        { kind: SpanKind.CLIENT, attributes },
        parent === undefined ? context.active() : trace.setSpan(context.active(), parent),
      );
      open.set(message, { span, startedAt: performance.now() });
    },
  );
  backend.subscribe(backendHandlers);
  teardown.push(() => backend.unsubscribe(backendHandlers));

  const counters = new Map<string, ReturnType<Meter['createCounter']>>();
  const onEvent = (raw: unknown): void => {
    const message = raw as ShardcountEventMessage;
    const name = eventCounterName(message.package, message.event);
    let counter = counters.get(name);
    if (counter === undefined) {
      counter = meter.createCounter(name, {
        description: `shardcount ${message.package} "${message.event}" events.`,
      });
      counters.set(name, counter);
    }
    counter.add(
      message.count,
      recordNames && message.subject !== undefined
        ? { 'shardcount.counter.name': message.subject }
        : {},
    );
  };
  subscribe(EVENTS_CHANNEL, onEvent);
  teardown.push(() => unsubscribe(EVENTS_CHANNEL, onEvent));

  let disabled = false;
  return {
    disable() {
      if (disabled) return;
      disabled = true;
      for (const undo of teardown) undo();
    },
  };
}

/**
 * Handlers that call `settle` once per message, when its promise settled (`asyncEnd`), or
 * at `end` when the traced function threw synchronously (no `asyncEnd` follows then).
 */
function settleHandlers<M extends { error?: unknown }>(
  settle: (message: M) => void,
  start: (message: M) => void = () => {},
): TracingHandlers<M> {
  return {
    start,
    end(message) {
      // A synchronous throw: Node publishes `error` then `end`, and no async events.
      if ('error' in message && !('result' in message)) settle(message);
    },
    asyncStart() {},
    asyncEnd: settle,
    error() {},
  };
}

function finishSpan(
  span: Span,
  attributes: Readonly<Record<string, string | number | boolean>>,
  error: unknown,
  type: string | undefined,
): void {
  span.setAttributes(attributes);
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
    if (type !== undefined) span.setAttribute('error.type', type);
  }
  span.end();
}

function withErrorType(attributes: Attributes, type: string | undefined): Attributes {
  return type === undefined ? attributes : { ...attributes, 'error.type': type };
}
