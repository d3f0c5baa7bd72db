import {
  abortableDelay,
  type CacheStore,
  CacheUnavailableError,
  type CasToken,
  InvalidArgumentError,
} from '@shardcount/storage';
import { LRUCache } from 'lru-cache';
import { v4 as uuidv4 } from 'uuid';
import type { CounterEvents, CounterOperationName } from './counter-events.js';
import type { CounterStatus } from './counter-status.js';
import type { Counter } from './counter-types.js';

/*
 * The cached total of a counter: kept by atomic increments, stale-proof through fill leases,
 * lineages and the per-shard write sequence numbers a fill records.
 *
 * Keys: the counter's main key M = prefix + name holds one of
 *   - a lineage: { kind: 'total', lineage, expiresAt, counter metadata, seqs, layoutEpoch,
 *     incarnation }   whose count lives in its own key C(lineage), as OFFSET + count, so that
 *     writers can change it with memcached's atomic incr/decr and never race each other;
 *   - absent:    { kind: 'absent', lineage, expiresAt }   (the counter does not exist);
 *   - a lease:   { kind: 'lease', lease }                 (a reader is filling M);
 *   - vacant:    { kind: 'vacant' }                       (a removed lineage; as good as empty).
 * `seqs[i]` is the write sequence number (`CounterShardData.seq`) of shard i in the store read
 * that filled the lineage: a committed write of shard i with sequence number q is in the
 * lineage's count exactly when seqs[i] >= q (writes of one shard commit one after another,
 * each raising seq by one).
 *
 * Invariant: C(L) exists only while M holds L. C(L) is written before M points to L, expires
 * two seconds before M's copy of L, and every removal of L deletes C(L) first, then replaces L
 * in M by CAS (never a blind delete). So an incr that finds C(L) lands in the live lineage.
 *
 * Reader (getCounter): getMany(M, C(last lineage seen)) - one round trip on a hit. On a miss:
 * take a lease on M (add when empty; CAS over a vacant or dead entry after deleting its count
 * key), read the store, set C(lease) = OFFSET + sum, then CAS M from the lease to the lineage.
 * The CAS lands only if nobody touched M since the lease.
 *
 * Writer (after its commit, never before, so no cache step holds a transaction open): get M;
 *   - a lineage L of the same counter incarnation and layout epoch: its delta is the sum of
 *     its writes that L does not hold (seqs[i] < q); incr/decr C(L) by it (nothing when 0).
 *     Two cache calls in all. A missing C(L) means L is dead: nothing to do.
 *   - empty or vacant: any later fill reads the store after this commit: nothing to do.
 *   - a lease: a fill is under way and may or may not have read this write: wait for it a few
 *     times (backoff), then judge the lineage as above; still a lease -> remove it.
 *   - absent, another incarnation or layout, or a write beyond the lineage's shards: remove.
 * Other changes (create, update, reset, delete, shard changes), replays and ambiguous commits
 * remove the lineage after their commit.
 *
 * Why no write is lost or counted twice (no faults): a write W of shard i (seq q) committed
 * before W's cache step. A lineage L filled from a read that saw shard i at seqs[i]:
 *   - seqs[i] >= q: L's count includes W; W adds nothing.
 *   - seqs[i] < q: L lacks W; W adds it once, only W can, and the incr reaches L only while L
 *     lives (invariant). Lineages filled after W's step read the store after W's commit.
 *   - L not yet filled when W looks (a lease): W waits, or removes the lease so it never fills.
 *   - M empty when W looks: a later lease, and the read after it, follow W's commit.
 * So after quiescence the cached total equals a strong read. Faults only cost freshness,
 * bounded by the lineage expiry (fixed at the fill, never extended): a writer that crashes
 * (or loses the cache) between its commit and its cache step leaves its lineage short by its
 * delta until the lineage expires.
 *
 * Counts are kept as OFFSET + count because memcached's decr stops at 0: a decrement may
 * reach the cache before the increment it followed in the store. A result of 0 (clamped) or
 * past the safe-integer range removes the lineage.
 */

/** What the count keys hold on top of the count; see the protocol notes. */
export const CACHED_COUNT_OFFSET = 2 ** 40;

/** Largest count a lineage can hold; larger totals are not cached. */
const MAX_CACHED_COUNT = Number.MAX_SAFE_INTEGER - 2 * CACHED_COUNT_OFFSET;

/** Seconds M's copy of a lineage outlives its count key (memcached's whole-second clock). */
const LINEAGE_MARGIN_SECONDS = 2;

/**
 * Waits of a writer that finds a fill lease, in milliseconds (about 250 in all), before it
 * removes the lease. A fill is one batched lookup and two cache writes; on a loaded store that
 * lookup alone can take tens of milliseconds, and a removed lease costs readers a new fill.
 */
const LEASE_WAITS_MS = [1, 2, 4, 8, 16, 32, 64, 128] as const;

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
  readonly counter: CounterSnapshot;
  readonly seqs: readonly number[];
  readonly layoutEpoch: number;
  readonly incarnation: number;
};

type AbsentEntry = {
  readonly kind: 'absent';
  readonly lineage: string;
  readonly expiresAt: number;
};

type LeaseEntry = { readonly kind: 'lease'; readonly lease: string };

type VacantEntry = { readonly kind: 'vacant' };

type Entry = TotalEntry | AbsentEntry | LeaseEntry | VacantEntry;

/** The right to fill a key: the reader's own lease and its CAS token. */
export interface FillTicket {
  readonly lease: string;
  readonly cas: CasToken;
}

/** What `getCounter` learned from the cache. */
export type ReadOutcome =
  | { readonly state: 'hit'; readonly counter: Counter | undefined }
  | { readonly state: 'miss'; readonly ticket: FillTicket | undefined };

/** One committed, count-changing write of a shard. */
export interface ShardWrite {
  /** Shard index. */
  readonly index: number;
  /** The shard's `seq` after the write. */
  readonly seq: number;
  /** What the write added (negative: removed). */
  readonly delta: number;
}

/** The committed writes of one operation, with the counter layout they were made under. */
export interface WriteSummary {
  /** The counter's `createdAt` in ms: tells a re-created counter from the deleted one. */
  readonly incarnation: number;
  /** The counter's `layoutEpoch` as the writer saw it. */
  readonly layoutEpoch: number;
  /** The shard writes. */
  readonly writes: readonly ShardWrite[];
}

/** A store read to fill the cache from. */
export interface FillRead {
  /** The counter with its total, or `undefined` when it does not exist. */
  readonly counter: Counter | undefined;
  /** `seq` of each shard `0 .. numShards - 1` as read. */
  readonly seqs: readonly number[];
  /** The counter's `layoutEpoch` as read. */
  readonly layoutEpoch: number;
}

/** Settings of {@link CachedTotals}. */
export interface CachedTotalsSettings {
  readonly keyPrefix: string;
  readonly ttlSeconds: number;
  readonly leaseTtlSeconds: number;
  readonly timeoutMs: number;
  /** Attempts at removing a lineage that keeps changing under the remover, minus one. */
  readonly casRetries: number;
}

type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false };

function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'total' || kind === 'absent' || kind === 'lease' || kind === 'vacant';
}

/** What a writer's cache step concluded. */
export type SettleResult = 'done' | 'removed' | 'stale-layout';

/** Reads and maintains the cached totals of counters; see the protocol notes above. */
export class CachedTotals {
  readonly #cache: CacheStore;
  readonly #settings: CachedTotalsSettings;
  readonly #events: CounterEvents;
  readonly #now: () => number;
  /** Last lineage seen per counter, so a hit reads M and its count key in one round trip. */
  readonly #lineages = new LRUCache<string, string>({ max: 10_000 });

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

  /** The key holding a lineage's count (lineage ids are uuids, unique across counters). */
  countKeyOf(lineage: string): string {
    return `${this.#settings.keyPrefix}#lineage:${lineage}`;
  }

  /**
   * One round trip on a hit (two when this process has not seen the lineage yet). On a miss
   * with an empty, vacant or dead entry, places a fill lease and returns a ticket; the caller
   * reads the store and calls {@link fill}.
   */
  async read(name: string): Promise<ReadOutcome> {
    const key = this.keyOf(name);
    const known = this.#lineages.get(name);
    const keys = known === undefined ? [key] : [key, this.countKeyOf(known)];
    const got = await this.#attempt(name, 'getMany', () => this.#cache.getMany(keys));
    if (!got.ok) return this.#miss(name, 'unavailable', undefined);
    return this.#judge(name, got.value, known);
  }

  /**
   * {@link read} for many counters (distinct names) with ONE `getMany` of every counter's key
   * and the count keys of the lineages this process has seen; a lineage it has not seen yet
   * costs one `get` of its count key, and each miss that may fill places its own lease
   * (as {@link read} does). Results follow `names`.
   */
  async readMany(names: readonly string[]): Promise<ReadOutcome[]> {
    const keys: string[] = [];
    const known: Array<string | undefined> = [];
    for (const name of names) {
      const lineage = this.#lineages.get(name);
      known.push(lineage);
      keys.push(this.keyOf(name));
      if (lineage !== undefined) keys.push(this.countKeyOf(lineage));
    }
    const got = await this.#attempt(names, 'getMany', () => this.#cache.getMany(keys));
    if (!got.ok) return names.map((name) => this.#miss(name, 'unavailable', undefined));
    const values = got.value;
    return Promise.all(names.map((name, i) => this.#judge(name, values, known[i])));
  }

  /** Decides a read from what `getMany` returned for the counter (and its known lineage). */
  async #judge(
    name: string,
    values: ReadonlyMap<string, unknown>,
    known: string | undefined,
  ): Promise<ReadOutcome> {
    const value = values.get(this.keyOf(name));
    if (value === undefined) return this.#lease(name, 'missing', undefined);
    if (!isEntry(value)) {
      // Not ours (a foreign value under our key): never trust it, never overwrite it blindly.
      return this.#miss(name, 'filling', undefined);
    }
    switch (value.kind) {
      case 'lease':
        return this.#miss(name, 'filling', undefined);
      case 'vacant':
        return this.#lease(name, 'missing', undefined);
      case 'absent':
        if (value.expiresAt <= this.#now()) return this.#lease(name, 'expired', value.lineage);
        this.#events.emit('cacheHit', { counterName: name });
        return { state: 'hit', counter: undefined };
      case 'total': {
        if (value.expiresAt <= this.#now()) return this.#lease(name, 'expired', value.lineage);
        let stored: unknown;
        if (value.lineage === known) {
          stored = values.get(this.countKeyOf(known));
        } else {
          const count = await this.#attempt(name, 'get', () =>
            this.#cache.get(this.countKeyOf(value.lineage)),
          );
          if (!count.ok) return this.#miss(name, 'unavailable', undefined);
          stored = count.value;
        }
        // No count key: the lineage is dead (expired first, as it should, or being removed).
        if (typeof stored !== 'number') return this.#lease(name, 'expired', value.lineage);
        const count = stored - CACHED_COUNT_OFFSET;
        // Below zero only for an instant (a decrement whose increment has not arrived yet).
        if (count < 0) return this.#miss(name, 'filling', undefined);
        this.#lineages.set(name, value.lineage);
        this.#events.emit('cacheHit', { counterName: name });
        return { state: 'hit', counter: toCounter(name, value, count) };
      }
    }
  }

  /** Fills the key from a store read, if the reader's lease is still untouched. */
  async fill(name: string, ticket: FillTicket, read: FillRead): Promise<void> {
    const key = this.keyOf(name);
    const expiresAt = this.#now() + this.#settings.ttlSeconds * 1000;
    const counter = read.counter;
    if (counter === undefined) {
      const entry: AbsentEntry = { kind: 'absent', lineage: ticket.lease, expiresAt };
      await this.#attempt(name, 'cas', () =>
        this.#cache.cas(key, entry, ticket.cas, { ttlSeconds: this.#settings.ttlSeconds }),
      );
      return;
    }
    // Too large to hold with the offset: leave the lease to expire; reads go to the store.
    if (counter.count > MAX_CACHED_COUNT) return;
    const set = await this.#attempt(name, 'set', () =>
      this.#cache.set(this.countKeyOf(ticket.lease), CACHED_COUNT_OFFSET + counter.count, {
        ttlSeconds: this.#settings.ttlSeconds,
      }),
    );
    if (!set.ok) return;
    const entry: TotalEntry = {
      kind: 'total',
      lineage: ticket.lease,
      expiresAt,
      counter: {
        description: counter.description,
        numShards: counter.numShards,
        status: counter.status,
        createdAtMs: counter.createdAt.getTime(),
        updatedAtMs: counter.updatedAt.getTime(),
      },
      seqs: read.seqs,
      layoutEpoch: read.layoutEpoch,
      incarnation: counter.createdAt.getTime(),
    };
    const landed = await this.#attempt(name, 'cas', () =>
      this.#cache.cas(key, entry, ticket.cas, {
        ttlSeconds: this.#settings.ttlSeconds + LINEAGE_MARGIN_SECONDS,
      }),
    );
    if (landed.ok && landed.value) this.#lineages.set(name, ticket.lease);
  }

  /**
   * After committed writes: adds what the live lineage lacks of them, or removes what cannot
   * be judged. Never rejects. Its waits for a reader's fill stop when `signal` ends (the lease
   * is then removed). `stale-layout` means the lineage was filled under another
   * layout than the writer's view (the caller should refresh its view).
   */
  async settle(
    name: string,
    operation: CounterOperationName,
    summary: WriteSummary,
    signal?: AbortSignal,
  ): Promise<SettleResult> {
    if (summary.writes.every((w) => w.delta === 0)) return 'done';
    const key = this.keyOf(name);
    for (let wait = 0; ; wait++) {
      const got = await this.#attempt(name, 'get', () => this.#cache.get(key));
      // The cache is failing: removing would fail too (and cost another timeout).
      if (!got.ok) return 'done';
      const value = got.value;
      if (value === undefined || !isEntry(value) || value.kind === 'vacant') return 'done';
      if (value.kind === 'lease') {
        const delay = LEASE_WAITS_MS[wait];
        if (delay === undefined) break;
        this.#events.emit('retry', {
          counterName: name,
          operation,
          step: 'cacheLease',
          attempt: wait + 1,
        });
        try {
          await abortableDelay(delay, signal);
        } catch {
          // The operation's signal ended (the write has committed): stop waiting for the fill
          // and remove the lease, as after the last wait.
          break;
        }
        continue;
      }
      if (value.kind === 'absent') break;
      if (value.incarnation !== summary.incarnation || value.layoutEpoch !== summary.layoutEpoch) {
        await this.invalidate(name);
        return 'stale-layout';
      }
      let delta = 0;
      for (const write of summary.writes) {
        const seen = value.seqs[write.index];
        if (seen === undefined) {
          // A shard the lineage never read (grown since): it cannot be judged.
          await this.invalidate(name);
          return 'removed';
        }
        if (seen < write.seq) delta += write.delta;
      }
      if (delta === 0) return 'done';
      const countKey = this.countKeyOf(value.lineage);
      const applied = await this.#attempt(name, delta > 0 ? 'incr' : 'decr', () =>
        delta > 0 ? this.#cache.incr(countKey, delta) : this.#cache.decr(countKey, -delta),
      );
      // Failed (perhaps applied, perhaps not), or clamped at zero: the count is unknown.
      if (!applied.ok || (applied.value !== undefined && applied.value <= 0)) break;
      // undefined: the lineage is dead, and the next one reads the store after this commit.
      return 'done';
    }
    await this.invalidate(name);
    return 'removed';
  }

  /**
   * Removes the counter's lineage (count key first, then the entry by CAS) or its lease:
   * safe after any committed change (see the protocol notes). Never rejects.
   */
  async invalidate(name: string): Promise<void> {
    const key = this.keyOf(name);
    for (let attempt = 0; attempt <= Math.max(2, this.#settings.casRetries); attempt++) {
      const got = await this.#attempt(name, 'gets', () => this.#cache.gets(key));
      if (!got.ok || got.value === undefined) return;
      const value = got.value.value;
      if (isEntry(value) && value.kind === 'vacant') return;
      if (isEntry(value) && value.kind === 'total') {
        const removed = await this.#attempt(name, 'delete', () =>
          this.#cache.delete(this.countKeyOf(value.lineage)),
        );
        if (!removed.ok) return;
      }
      const vacant: VacantEntry = { kind: 'vacant' };
      const replaced = await this.#attempt(name, 'cas', () =>
        this.#cache.cas(key, vacant, got.value?.cas as CasToken, {
          ttlSeconds: this.#settings.leaseTtlSeconds,
        }),
      );
      if (!replaced.ok || replaced.value) return;
    }
  }

  /**
   * Places this reader's fill lease on an empty, vacant or dead entry (`dead` names the dead
   * lineage, whose count key is deleted first) and returns the miss with its ticket.
   */
  async #lease(
    name: string,
    reason: 'missing' | 'expired',
    dead: string | undefined,
  ): Promise<ReadOutcome> {
    const key = this.keyOf(name);
    const lease = uuidv4();
    const leaseEntry: LeaseEntry = { kind: 'lease', lease };
    const options = { ttlSeconds: this.#settings.leaseTtlSeconds };
    const current = await this.#attempt(name, 'gets', () => this.#cache.gets(key));
    if (!current.ok) return this.#miss(name, 'unavailable', undefined);
    let placed: Attempt<boolean>;
    if (current.value === undefined) {
      placed = await this.#attempt(name, 'add', () => this.#cache.add(key, leaseEntry, options));
    } else {
      const value = current.value.value;
      const deadLineage =
        isEntry(value) && (value.kind === 'total' || value.kind === 'absent') && dead !== undefined
          ? value.lineage === dead
          : false;
      if (!(isEntry(value) && value.kind === 'vacant') && !deadLineage) {
        return this.#miss(name, 'filling', undefined);
      }
      if (isEntry(value) && value.kind === 'total') {
        const removed = await this.#attempt(name, 'delete', () =>
          this.#cache.delete(this.countKeyOf(value.lineage)),
        );
        if (!removed.ok) return this.#miss(name, 'unavailable', undefined);
      }
      const token = current.value.cas;
      placed = await this.#attempt(name, 'cas', () =>
        this.#cache.cas(key, leaseEntry, token, options),
      );
    }
    if (!placed.ok || !placed.value) return this.#miss(name, reason, undefined);
    const mine = await this.#attempt(name, 'gets', () => this.#cache.gets(key));
    if (!mine.ok || mine.value === undefined) return this.#miss(name, reason, undefined);
    const held = mine.value.value;
    if (!isEntry(held) || held.kind !== 'lease' || held.lease !== lease) {
      return this.#miss(name, reason, undefined);
    }
    return this.#miss(name, reason, { lease, cas: mine.value.cas });
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
  async #attempt<T>(
    name: string | readonly string[],
    call: string,
    run: () => Promise<T>,
  ): Promise<Attempt<T>> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = run();
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new CacheUnavailableError(
                `Cache ${call} did not answer within ${this.#settings.timeoutMs} ms.`,
                { context: { counterName: typeof name === 'string' ? name : name[0], call } },
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
      // A batched call failed for every counter it read.
      for (const counterName of typeof name === 'string' ? [name] : name) {
        this.#events.emit('cacheError', { counterName, call, error });
      }
      return { ok: false };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

function toCounter(name: string, entry: TotalEntry, count: number): Counter {
  return {
    name,
    description: entry.counter.description,
    numShards: entry.counter.numShards,
    status: entry.counter.status,
    count,
    createdAt: new Date(entry.counter.createdAtMs),
    updatedAt: new Date(entry.counter.updatedAtMs),
  };
}
