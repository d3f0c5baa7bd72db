import { tracingChannel } from 'node:diagnostics_channel';
import { BACKEND_CALL_CHANNEL, type BackendCallMessage } from '../diagnostics/tracing.js';

/**
 * Storage's backend-call `TracingChannel` (Node keeps one per name: the same object
 * `traceBackendCall` publishes on). The cache stores read its `hasSubscribers` before they
 * build the closure `traceBackendCall` takes, so an untraced call allocates nothing for
 * tracing.
 */
export const BACKEND_CALLS = tracingChannel<unknown, BackendCallMessage>(BACKEND_CALL_CHANNEL);
