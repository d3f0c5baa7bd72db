/**
 * `@shardcount/opentelemetry`: spans and metrics for every shardcount package, built from the
 * operations they publish on Node's `diagnostics_channel` (which cost nothing while nobody
 * subscribes). Depends only on `@opentelemetry/api`: bring your own SDK and exporters.
 *
 * ```ts
 * import { instrumentShardcount } from '@shardcount/opentelemetry';
 *
 * const instrumentation = instrumentShardcount(); // the global tracer and meter providers
 * // ...
 * instrumentation.disable();
 * ```
 *
 * @packageDocumentation
 */
export { errorType } from './error-type.js';
export {
  INSTRUMENTATION_SCOPE,
  type InstrumentShardcountOptions,
  instrumentShardcount,
  type ShardcountInstrumentation,
} from './instrument.js';
export { eventCounterName } from './metric-names.js';
