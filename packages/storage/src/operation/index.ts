export { onAbort } from './abort-listeners.js';
export { assertCallOptions, CALL_OPTION_FIELDS, type CallOptions } from './call-options.js';
export {
  abortableDelay,
  abortError,
  type OperationSignal,
  openOperationSignal,
  raceCommit,
  raceSignal,
  throwIfAborted,
} from './operation-signal.js';
