import { publishEvent, type ShardcountPackageName } from './tracing.js';

/** A listener of event `E` of the event map `M`. */
export type TypedEventListener<M, E extends keyof M> = (event: M[E]) => void;

/**
 * The typed events of one shardcount package (core's service, pingpong's counter,
 * local-cache's cache): `on(event, listener)` returns a function that removes the listener.
 * Listeners run synchronously; a listener that throws is ignored, because metrics must never
 * break counting. Every emitted event is also published on the `shardcount:events`
 * diagnostics channel (for `@shardcount/opentelemetry`'s counters) when someone subscribes
 * there.
 *
 * @typeParam M - maps each event name to its payload type
 */
export class TypedEvents<M extends object> {
  readonly #package: ShardcountPackageName;
  readonly #listeners = new Map<keyof M, Set<(event: never) => void>>();

  /**
   * Creates the emitter of one package.
   *
   * @param pkg - the package the events are published under
   */
  constructor(pkg: ShardcountPackageName) {
    this.#package = pkg;
  }

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof M & string>(event: E, listener: TypedEventListener<M, E>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Whether `event` has a listener here, so a caller can skip building a costly payload. */
  hasListeners(event: keyof M & string): boolean {
    const set = this.#listeners.get(event);
    return set !== undefined && set.size > 0;
  }

  /**
   * Calls every listener of `event` and publishes it on the events channel.
   *
   * @param event - the event's name
   * @param payload - what listeners receive
   * @param subject - the counter or key it is about (opt-in in telemetry: high cardinality)
   * @param count - how many units it stands for on the events channel (e.g. increments moved)
   */
  emit<E extends keyof M & string>(
    event: E,
    payload: M[E],
    subject: string | undefined,
    count = 1,
  ): void {
    publishEvent(this.#package, event, subject, count);
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as TypedEventListener<M, E>)(payload);
      } catch {
        // A failing metrics hook must not fail the operation that reported it.
      }
    }
  }
}
