import type { BackendEntityStore, CacheStore } from '@shardcount/storage';
import type { BackendKind } from '../cli-options.js';

/** A counter increment that bypasses shardcount: the limit pingpong is compared with. */
export interface RawIncrement {
  /** What it is, for the results (e.g. `memjs Client.increment`). */
  readonly label: string;
  /** Adds 1 to `key`, creating it at 1 when missing. */
  increment(key: string): Promise<void>;
  /** Calls made so far (each one round trip). */
  readonly calls: number;
  close(): Promise<void>;
}

/** A plain read of one key that bypasses shardcount: the limit of a version-tag check. */
export interface RawGet {
  /** What it is, for the results (e.g. `iovalkey GET`). */
  readonly label: string;
  /** Reads `key` (written by {@link RawGet.prepare}). */
  get(key: string): Promise<void>;
  /** Writes `key`, so that the reads find it. */
  prepare(key: string): Promise<void>;
  /** Calls made so far (each one round trip). */
  readonly calls: number;
  close(): Promise<void>;
}

/** The adapters a run measures, and the servers behind them. */
export interface Backend {
  readonly kind: BackendKind;
  /** Human-readable names of the adapters, written into the results. */
  readonly adapters: Readonly<Record<string, string>>;
  /** A fresh entity store; on the real backend, in a Datastore namespace of its own. */
  createEntityStore(): Promise<BackendEntityStore>;
  /** A cache store; callers keep their keys apart with the run's unique prefix. */
  createCacheStore(): CacheStore;
  /**
   * Raw increments on the same cache as `cache`: `cache.incr` itself when embedded (there is
   * no server), memjs's own `increment` on the same memcached when real.
   */
  createRawIncrement(cache: CacheStore): RawIncrement;
  /**
   * Raw reads of one key on the same cache server, with the server's own client; absent
   * when embedded (there is no server: LocalCache's limit is lru-cache).
   */
  createRawGet?(): RawGet;
  /** Stops every server this backend started. Safe to call twice. */
  close(): Promise<void>;
}
