import { channel } from 'node:diagnostics_channel';
import { EVENTS_CHANNEL, type TypedEventListener, TypedEvents } from '@shardcount/storage';

/** Payload of the `hit` event: a read was answered by a current local entry. */
export interface HitEvent {
  /** Key read. */
  readonly key: string;
}

/**
 * Why a read found no usable local entry:
 * - `absent`: this process holds no entry for the key;
 * - `changed`: the entry's tag differs from the stored one (invalidated, or the tag was lost
 *   and re-created, or the entry was loaded while the tag store was down);
 * - `unavailable`: the tag store failed, and the entry (if any) could not be served stale.
 */
export type MissReason = 'absent' | 'changed' | 'unavailable';

/** Payload of the `miss` event: a read started a load or joined one in progress. */
export interface MissEvent {
  /** Key read. */
  readonly key: string;
  /** Why the local entry could not answer. */
  readonly reason: MissReason;
  /** `true` when the read joined a load already in progress instead of starting one. */
  readonly joined: boolean;
}

/** Payload of the `load` event: one value provider call began. */
export interface LoadEvent {
  /** Keys the call loads (one for `get`; a `getMany` batch may load several at once). */
  readonly keys: readonly string[];
}

/**
 * Payload of the `loadFailed` event: a value provider call failed (its error reached every
 * read waiting on it; nothing was cached).
 */
export interface LoadFailedEvent {
  /** Keys the failed call was loading. */
  readonly keys: readonly string[];
  /** What the provider threw or rejected with. */
  readonly error: unknown;
}

/**
 * Payload of the `staleServed` event: the tag store was unavailable and a read was answered
 * by an unverified local entry (`onCacheUnavailable: 'serve-stale'`, within `graceMs`).
 */
export interface StaleServedEvent {
  /** Key read. */
  readonly key: string;
  /** Milliseconds since the entry's last successful check, on the cache's clock. */
  readonly sinceCheckMs: number;
}

/** Payload of the `tagStoreError` event: a call on the tag store failed (`CacheUnavailableError`). */
export interface TagStoreErrorEvent {
  /**
   * `read`: a tag read or tag creation of `get`/`getMany` (the read went on under
   * `onCacheUnavailable`); `invalidate`: a tag write of `invalidate`/`invalidateMany` (the
   * call throws).
   */
  readonly operation: 'read' | 'invalidate';
  /** Keys concerned: those read, or those whose tag could not be written. */
  readonly keys: readonly string[];
  /** The first error (a `CacheUnavailableError`). */
  readonly error: Error;
}

/** Payload of the `invalidated` event: fresh tags were written, so every process reloads these keys. */
export interface InvalidatedEvent {
  /** Keys whose tag was written. */
  readonly keys: readonly string[];
}

/** Every event a {@link LocalCache} emits and its payload. */
export interface LocalCacheEventMap {
  /** A read answered by a current local entry (counted in `stats().hits`). */
  hit: HitEvent;
  /** A read that needed a load (counted in `stats().misses`). */
  miss: MissEvent;
  /** A value provider call began (counted in `stats().loads`). */
  load: LoadEvent;
  /** A value provider call failed. */
  loadFailed: LoadFailedEvent;
  /** A read answered by an unverified entry during a tag store outage (`stats().staleServed`). */
  staleServed: StaleServedEvent;
  /** A tag store call failed (counted in `stats().errors`). */
  tagStoreError: TagStoreErrorEvent;
  /** Fresh tags were written by `invalidate` or `invalidateMany`. */
  invalidated: InvalidatedEvent;
}

/** Names of every event in {@link LocalCacheEventMap}. */
export const LOCAL_CACHE_EVENT_NAMES: readonly (keyof LocalCacheEventMap)[] = Object.freeze([
  'hit',
  'miss',
  'load',
  'loadFailed',
  'staleServed',
  'tagStoreError',
  'invalidated',
]);

/** A listener of event `E` of a {@link LocalCache}. */
export type LocalCacheEventListener<E extends keyof LocalCacheEventMap> = TypedEventListener<
  LocalCacheEventMap,
  E
>;

const eventsChannel = channel(EVENTS_CHANNEL);

/**
 * The cache's typed events: storage's `TypedEvents`, plus {@link LocalCacheEvents.active} so
 * the hit path builds no payload while nobody listens here or on the diagnostics channel.
 */
export class LocalCacheEvents extends TypedEvents<LocalCacheEventMap> {
  #listeners = 0;

  /** Creates the emitter of one cache. */
  constructor() {
    super('local-cache');
  }

  /** Whether an event would reach anyone: a listener here, or a `shardcount:events` subscriber. */
  get active(): boolean {
    return this.#listeners > 0 || eventsChannel.hasSubscribers;
  }

  /** Adds a listener; returns a function that removes it (calling it twice is harmless). */
  override on<E extends keyof LocalCacheEventMap & string>(
    event: E,
    listener: LocalCacheEventListener<E>,
  ): () => void {
    const off = super.on(event, listener);
    this.#listeners += 1;
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      this.#listeners -= 1;
      off();
    };
  }
}
