import type { FlushReport } from './flush-report.js';

/** Payload of the `moved` event: a flush added a counter's increments to its durable count. */
export interface MovedEvent {
  /** Counter flushed. */
  readonly counterName: string;
  /** Amount of increments moved (added to the durable count) by this drain. */
  readonly amount: number;
}

/** Payload of the `movedDecrements` event: a flush subtracted a counter's decrements. */
export interface MovedDecrementsEvent {
  /** Counter flushed. */
  readonly counterName: string;
  /** Amount of decrements moved (subtracted from the durable count) by this drain. */
  readonly amount: number;
}

/**
 * Payload of the `lost` event: a flush found that memcache lost counts of a counter (a slot
 * gone, or re-created below what was already drained). The amount is unknown; see
 * `CounterLoss`.
 */
export interface LostEvent {
  /** Counter concerned. */
  readonly counterName: string;
  /** The open epochs found lost, oldest first. */
  readonly epochs: readonly number[];
}

/** Payload of the `writtenThrough` event: memcached was down and an increment went to the store. */
export interface WrittenThroughEvent {
  /** Counter incremented. */
  readonly counterName: string;
  /** The delta added to the durable count. */
  readonly delta: number;
}

/** Payload of the `dropped` event: memcached was down and an increment was discarded. */
export interface DroppedEvent {
  /** Counter whose increment was discarded. */
  readonly counterName: string;
  /** The delta discarded. */
  readonly delta: number;
}

/** Payload of the `idled` event: a flush marked a counter idle (later flushes skip it). */
export interface IdledEvent {
  /** Counter marked idle. */
  readonly counterName: string;
}

/**
 * Payload of the `flushError` event: one failure of a flush (the flush goes on with the other
 * counters; the same failure is in its report's `errors`).
 */
export interface FlushErrorEvent {
  /** Counter concerned; absent when the registry itself could not be read. */
  readonly counterName?: string | undefined;
  /** What went wrong, e.g. `StoreUnavailableError`, `AmbiguousCommitError`. */
  readonly error: Error;
}

/** Payload of the `registrationError` event: a batch of names could not be registered (retried). */
export interface RegistrationErrorEvent {
  /** How many names the failed round carried. */
  readonly names: number;
  /** The store's error. */
  readonly error: Error;
}

/** Every event a {@link PingPongCounter} emits, and its payload. */
export interface PingPongEventMap {
  /** A flush finished; the payload is its report (also what `flush()` resolves to). */
  flushed: FlushReport;
  /** A drain added increments to a durable count. */
  moved: MovedEvent;
  /** A drain subtracted decrements from a durable count. */
  movedDecrements: MovedDecrementsEvent;
  /** A flush found epochs whose counts memcache lost. */
  lost: LostEvent;
  /** An increment was written to the store because memcached was unavailable. */
  writtenThrough: WrittenThroughEvent;
  /** An increment was discarded because memcached was unavailable (policy `'drop'`). */
  dropped: DroppedEvent;
  /** A flush marked a counter idle. */
  idled: IdledEvent;
  /** One failure during a flush. */
  flushError: FlushErrorEvent;
  /** A registration round failed; its names are retried. */
  registrationError: RegistrationErrorEvent;
}

/** Names of every event in {@link PingPongEventMap}. */
export const PINGPONG_EVENT_NAMES: readonly (keyof PingPongEventMap)[] = Object.freeze([
  'flushed',
  'moved',
  'movedDecrements',
  'lost',
  'writtenThrough',
  'dropped',
  'idled',
  'flushError',
  'registrationError',
]);

/** A listener of pingpong event `E`. */
export type PingPongEventListener<E extends keyof PingPongEventMap> = (
  event: PingPongEventMap[E],
) => void;
