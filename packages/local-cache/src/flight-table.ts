import type { SharedLoad } from './shared-load.js';

/**
 * Marks a load made without a version tag (the tag store was unavailable). Such loads are
 * joined only by reads that began before the load did, since no tag proves them current.
 */
export const UNTAGGED = Symbol('untagged');

/** The version a load was made under: the tag read before it, or {@link UNTAGGED}. */
export type FlightTag = string | typeof UNTAGGED;

/** One load in progress for one key. */
export interface Flight<V> {
  /** Settles with the loaded value or the provider's error. */
  readonly promise: Promise<V>;
  /** The provider call behind it (a `getMany` batch shares one among several keys). */
  readonly load: SharedLoad;
  /** Position in the cache's sequence of reads and loads: orders untagged joins. */
  readonly seq: number;
  /** Set when the key was invalidated or dropped during the load: the result is not stored. */
  discarded: boolean;
}

/**
 * The loads in progress, per key and version tag: the single-flight table. Keyed by tag, not
 * only by key, so a read that saw a newer tag never joins a load made under an older one.
 */
export class FlightTable<V> {
  readonly #byKey = new Map<string, Map<FlightTag, Flight<V>>>();

  /** The load of `key` under `tag` in progress, if any. */
  find(key: string, tag: FlightTag): Flight<V> | undefined {
    return this.#byKey.get(key)?.get(tag);
  }

  /** Registers a load; it replaces an earlier one of the same key and tag. */
  add(key: string, tag: FlightTag, flight: Flight<V>): void {
    let byTag = this.#byKey.get(key);
    if (byTag === undefined) {
      byTag = new Map();
      this.#byKey.set(key, byTag);
    }
    byTag.set(tag, flight);
  }

  /** Unregisters a finished load, unless another has replaced it. */
  remove(key: string, tag: FlightTag, flight: Flight<V>): void {
    const byTag = this.#byKey.get(key);
    if (byTag?.get(tag) !== flight) return;
    byTag.delete(tag);
    if (byTag.size === 0) this.#byKey.delete(key);
  }

  /**
   * Detaches every load of `key`: they still settle for the reads already waiting, but no
   * new read joins them and their results are not stored.
   */
  discard(key: string): void {
    const byTag = this.#byKey.get(key);
    if (byTag === undefined) return;
    for (const flight of byTag.values()) flight.discarded = true;
    this.#byKey.delete(key);
  }

  /** {@link discard} for every key. */
  discardAll(): void {
    for (const key of [...this.#byKey.keys()]) this.discard(key);
  }
}
