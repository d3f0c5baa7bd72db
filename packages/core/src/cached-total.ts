import {
  type CacheStore,
  CacheUnavailableError,
  type CasToken,
  InvalidArgumentError,
} from '@shardcount/storage';
import pRetry, { AbortError } from 'p-retry';
import { v4 as uuidv4 } from 'uuid';
import type { CounterEvents, CounterOperationName } from './counter-events.js';
import type { CounterStatus } from './counter-status.js';
import type { Counter } from './counter-types.js';

/*
 * The cached total of a counter, kept stale-proof with fill leases and lineages.
 *
 * One cache key per counter holds one of:
 *   - a total:  { kind: 'total', lineage, expiresAt, count, counter metadata }
 *   - absent:   { kind: 'absent', lineage, expiresAt }   (the counter does not exist)
 *   - a lease:  { kind: 'lease', lease }                 (a reader is filling the key)
 *
 * A lineage starts when a reader fills the key and lives as long as writers adjust it by CAS;
 * its id is the filling reader's lease id, and its expiry (`expiresAt`) is fixed at the fill:
 * adjustments keep it, so every lineage dies within `cacheTtlSeconds` of the read that made
 * it, whatever happens to the writers.
 *
 * Reader (getCounter on a miss): add(lease) -> gets (CAS token of its own lease) -> sum the
 * shards -> cas(total, token). The cas lands only if nobody touched the key since the lease.
 *
 * Writer (increment/decrement): gets BEFORE its commit (the "before" snapshot), commit, then:
 *   - before held a total of lineage L: cas(count + delta) with the snapshot's token; when the
 *     cas loses, gets again: still lineage L -> retry the cas (bounded, p-retry); anything else
 *     (another lineage, a lease, nothing) -> delete.
 *   - before held anything else (nothing, a lease, absent) or the cache failed: delete.
 * The post-commit step is registered from inside the transaction with the store's
 * afterCommit, so it also follows the commit of a caller's transaction that the write joined
 * (isolated: false), and never runs after a rollback or an ambiguous commit.
 * Other changes (create, update, reset, delete, shard changes) and replayed operations (an
 * idempotency key already applied) delete after their commit.
 *
 * Why no stale total can land, by ordering (W = writer commit, R = reader):
 *   1. R leases after W's post-commit step: R sums after W committed, so R's sum includes W.
 *   2. R leases before W's post-commit step and sums after W committed: R's sum includes W;
 *      W's step either deletes the lease (R's cas fails: no fill, no harm) or finds R's filled
 *      lineage, which W's "before" snapshot cannot have seen (R leased after that snapshot,
 *      because the key was empty when R leased): so W deletes it instead of adding W twice.
 *   3. R leases before W's post-commit step and sums before W committed (R's sum lacks W):
 *      W's before-snapshot was taken before W's commit. If it saw R's lease or nothing, W
 *      deletes after its commit, so R's cas fails (the key changed) or R's fill is removed.
 *      If it saw an older lineage, R could not have leased (add fails on an existing key)
 *      unless that lineage vanished first; then W's cas fails, W's gets finds R's lease or
 *      lineage (not the old one) and deletes it.
 *   4. A writer adding to a lineage it snapshotted: the lineage was filled before the
 *      snapshot, the snapshot before W's commit, so the lineage lacks W: adding is right.
 *      A retry re-reads and adds only while the lineage is the same one, which still lacks W
 *      (every change to it is another writer's own delta).
 * So with no faults the cache equals the store once writers return. Faults only cost
 * freshness, bounded by the lineage expiry: a writer that crashes (or loses the cache)
 * between commit and its cache step leaves its lineage short by its delta until it expires.
 */

type CounterSnapshot = {
  readonly description: string;
  readonly numShards: number;
  readonly status: CounterStatus;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
};

type TotalEntry = {
  readonly kind: 'total';
  readonly lineage: string;
  readonly expiresAt: number;
  readonly count: number;
  readonly counter: CounterSnapshot;
};

type AbsentEntry = {
  readonly kind: 'absent';
  readonly lineage: string;
  readonly expiresAt: number;
};

type LeaseEntry = { readonly kind: 'lease'; readonly lease: string };

type Entry = TotalEntry | AbsentEntry | LeaseEntry;

/** The right to fill a key: the reader's own lease and its CAS token. */
export interface FillTicket {
  readonly lease: string;
  readonly cas: CasToken;
}

/** What `getCounter` learned from the cache. */
export type ReadOutcome =
  | { readonly state: 'hit'; readonly counter: Counter | undefined }
  | { readonly state: 'miss'; readonly ticket: FillTicket | undefined };

/** The cache state a writer saw before committing. */
export type WriteSnapshot =
  | { readonly state: 'total'; readonly entry: TotalEntry; readonly cas: CasToken }
  | { readonly state: 'other' }
  | { readonly state: 'failed' };

/** Settings of {@link CachedTotals}. */
export interface CachedTotalsSettings {
  readonly keyPrefix: string;
  readonly ttlSeconds: number;
  readonly leaseTtlSeconds: number;
  readonly timeoutMs: number;
  readonly casRetries: number;
}

type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false };

/** Sentinel reasons that end a settle loop. */
const CACHE_FAILED = 'cache-failed';
const INVALIDATE = 'invalidate';

function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'total' || kind === 'absent' || kind === 'lease';
}

/** Reads and maintains the cached totals of counters; see the protocol notes above. */
export class CachedTotals {
  readonly #cache: CacheStore;
  readonly #settings: CachedTotalsSettings;
  readonly #events: CounterEvents;
  readonly #now: () => number;

  constructor(
    cache: CacheStore,
    settings: CachedTotalsSettings,
    events: CounterEvents,
    now: () => number = Date.now,
  ) {
    this.#cache = cache;
    this.#settings = settings;
    this.#events = events;
    this.#now = now;
  }

  /** The cache key of a counter's total. */
  keyOf(name: string): string {
    return `${this.#settings.keyPrefix}${name}`;
  }

  /**
   * One round trip on a hit. On a miss with an empty key, places a fill lease and returns a
   * ticket (two more round trips); the caller reads the store and calls {@link fill}.
   */
  async read(name: string): Promise<ReadOutcome> {
    const key = this.keyOf(name);
    const got = await this.#attempt(name, 'get', () => this.#cache.get(key));
    if (!got.ok) return this.#miss(name, 'unavailable', undefined);
    const value = got.value;
    if (isEntry(value)) {
      if (value.kind === 'lease') return this.#miss(name, 'filling', undefined);
      if (value.expiresAt <= this.#now()) return this.#miss(name, 'expired', undefined);
      this.#events.emit('cacheHit', { counterName: name });
      return {
        state: 'hit',
        counter: value.kind === 'absent' ? undefined : toCounter(name, value),
      };
    }
    if (value !== undefined) {
      // Not ours (a foreign value under our key): never trust it, never overwrite it blindly.
      return this.#miss(name, 'filling', undefined);
    }
    const lease = uuidv4();
    const leaseEntry: LeaseEntry = { kind: 'lease', lease };
    const added = await this.#attempt(name, 'add', () =>
      this.#cache.add(key, leaseEntry, { ttlSeconds: this.#settings.leaseTtlSeconds }),
    );
    if (!added.ok || !added.value) return this.#miss(name, 'missing', undefined);
    const mine = await this.#attempt(name, 'gets', () => this.#cache.gets(key));
    if (!mine.ok || mine.value === undefined) return this.#miss(name, 'missing', undefined);
    const held = mine.value.value;
    if (!isEntry(held) || held.kind !== 'lease' || held.lease !== lease) {
      return this.#miss(name, 'missing', undefined);
    }
    return this.#miss(name, 'missing', { lease, cas: mine.value.cas });
  }

  /** Fills the key from a store read, if the reader's lease is still untouched. */
  async fill(name: string, ticket: FillTicket, counter: Counter | undefined): Promise<void> {
    const expiresAt = this.#now() + this.#settings.ttlSeconds * 1000;
    const entry: TotalEntry | AbsentEntry =
      counter === undefined
        ? { kind: 'absent', lineage: ticket.lease, expiresAt }
        : {
            kind: 'total',
            lineage: ticket.lease,
            expiresAt,
            count: counter.count,
            counter: {
              description: counter.description,
              numShards: counter.numShards,
              status: counter.status,
              createdAtMs: counter.createdAt.getTime(),
              updatedAtMs: counter.updatedAt.getTime(),
            },
          };
    await this.#attempt(name, 'cas', () =>
      this.#cache.cas(this.keyOf(name), entry, ticket.cas, {
        ttlSeconds: this.#settings.ttlSeconds,
      }),
    );
  }

  /** The writer's "before" snapshot. Never rejects. */
  async snapshot(name: string): Promise<WriteSnapshot> {
    const got = await this.#attempt(name, 'gets', () => this.#cache.gets(this.keyOf(name)));
    if (!got.ok) return { state: 'failed' };
    const entry = got.value;
    if (entry !== undefined && isEntry(entry.value) && entry.value.kind === 'total') {
      return { state: 'total', entry: entry.value, cas: entry.cas };
    }
    return { state: 'other' };
  }

  /**
   * After a committed change of `delta` (negative for decrements): adjusts the lineage the
   * snapshot saw, or deletes the key. Never rejects.
   */
  async settle(
    name: string,
    operation: CounterOperationName,
    before: WriteSnapshot,
    delta: number,
  ): Promise<void> {
    if (delta === 0) return;
    if (before.state !== 'total') {
      await this.invalidate(name);
      return;
    }
    const key = this.keyOf(name);
    let entry = before.entry;
    let cas = before.cas;
    try {
      await pRetry(
        async (attempt) => {
          if (attempt > 1) {
            const fresh = await this.#attempt(name, 'gets', () => this.#cache.gets(key));
            if (!fresh.ok) throw new AbortError(CACHE_FAILED);
            const value = fresh.value?.value;
            if (
              fresh.value === undefined ||
              !isEntry(value) ||
              value.kind !== 'total' ||
              value.lineage !== before.entry.lineage
            ) {
              throw new AbortError(INVALIDATE);
            }
            entry = value;
            cas = fresh.value.cas;
          }
          const next = entry.count + delta;
          const remainingMs = entry.expiresAt - this.#now();
          if (!Number.isSafeInteger(next) || next < 0 || remainingMs <= 0) {
            throw new AbortError(INVALIDATE);
          }
          const updated: TotalEntry = { ...entry, count: next };
          const landed = await this.#attempt(name, 'cas', () =>
            this.#cache.cas(key, updated, cas, { ttlSeconds: Math.ceil(remainingMs / 1000) }),
          );
          if (!landed.ok) throw new AbortError(CACHE_FAILED);
          if (!landed.value) throw new Error('cas lost');
        },
        {
          retries: this.#settings.casRetries,
          minTimeout: 1,
          maxTimeout: 25,
          factor: 2,
          randomize: true,
          onFailedAttempt: ({ attemptNumber, retriesLeft }) => {
            if (retriesLeft > 0) {
              this.#events.emit('retry', {
                counterName: name,
                operation,
                step: 'cacheCas',
                attempt: attemptNumber,
              });
            }
          },
        },
      );
    } catch (error) {
      // The cache is failing: a delete would fail too (and cost another timeout).
      if (error instanceof Error && error.message === CACHE_FAILED) return;
      await this.invalidate(name);
    }
  }

  /** Deletes the key: safe after any committed change (see the protocol notes). Never rejects. */
  async invalidate(name: string): Promise<void> {
    await this.#attempt(name, 'delete', () => this.#cache.delete(this.keyOf(name)));
  }

  #miss(
    name: string,
    reason: 'missing' | 'filling' | 'expired' | 'unavailable',
    ticket: FillTicket | undefined,
  ): ReadOutcome {
    this.#events.emit('cacheMiss', { counterName: name, reason });
    return { state: 'miss', ticket };
  }

  /**
   * Runs one cache call with a deadline. Any failure (outage, timeout, even a rejected value)
   * is reported as a `cacheError` event and returned as `{ ok: false }`: the cache is
   * best-effort and must never fail a counter operation.
   */
  async #attempt<T>(name: string, call: string, run: () => Promise<T>): Promise<Attempt<T>> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = run();
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new CacheUnavailableError(
                `Cache ${call} did not answer within ${this.#settings.timeoutMs} ms.`,
                { context: { counterName: name, call } },
              ),
            ),
          this.#settings.timeoutMs,
        );
        timer.unref();
      });
      // A late answer after the deadline is dropped; its rejection must not go unhandled.
      pending.catch(() => undefined);
      return { ok: true, value: await Promise.race([pending, deadline]) };
    } catch (caught) {
      const error =
        caught instanceof Error
          ? caught
          : new InvalidArgumentError(`Cache ${call} failed with a non-error value.`);
      this.#events.emit('cacheError', { counterName: name, call, error });
      return { ok: false };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

function toCounter(name: string, entry: TotalEntry): Counter {
  return {
    name,
    description: entry.counter.description,
    numShards: entry.counter.numShards,
    status: entry.counter.status,
    count: entry.count,
    createdAt: new Date(entry.counter.createdAtMs),
    updatedAt: new Date(entry.counter.updatedAtMs),
  };
}
