import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CacheCounterOptions,
  CacheStore,
  CacheValue,
  CacheWriteOptions,
  CasEntry,
  CasToken,
} from '../cache/cache-store.js';
import { CacheUnavailableError } from '../errors/index.js';
import { FaultPlan } from './fault-plan.js';

/** The verbs a {@link FaultInjectingCacheStore} can count and break. */
export type CacheOperation =
  | 'get'
  | 'getMany'
  | 'gets'
  | 'cas'
  | 'add'
  | 'set'
  | 'incr'
  | 'decr'
  | 'delete';

/** Which verbs a fault applies to; all when absent. */
export interface CacheFaultScope {
  /** Verbs the fault hits. */
  readonly operations?: readonly CacheOperation[];
}

/** The faults to arm on a {@link FaultInjectingCacheStore}. */
export interface CacheFaults {
  /** The next `count` matching calls fail with `CacheUnavailableError`. */
  failNext(count: number, options?: CacheFaultScope): void;
  /** Every matching call fails with `CacheUnavailableError` until healed: a dead cache. */
  failAlways(options?: CacheFaultScope): void;
  /**
   * Matching writes report success but change nothing, like a cache that lost them (an
   * eviction or restart right after the write). `incr`/`decr` report the value they would
   * have produced from the current one; `add`/`cas`/`delete` report `true`.
   */
  loseWrites(count: number | 'always', options?: CacheFaultScope): void;
  /** Every matching call waits `ms` milliseconds first, until healed. */
  delay(ms: number, options?: CacheFaultScope): void;
  /** Disarms every fault. */
  heal(): void;
}

/** Calls that reached the wrapped cache, per verb. */
export type CacheCallCounts = Record<CacheOperation, number>;

type CacheEffect = 'fail' | 'lose';

const WRITES: readonly CacheOperation[] = ['cas', 'add', 'set', 'incr', 'decr', 'delete'];

const zeroCounts = (): CacheCallCounts => ({
  get: 0,
  getMany: 0,
  gets: 0,
  cas: 0,
  add: 0,
  set: 0,
  incr: 0,
  decr: 0,
  delete: 0,
});

/**
 * A `CacheStore` wrapper that counts calls and fails, delays or loses them on command.
 * Used by every package's failure and cost tests.
 *
 * @example
 * ```ts
 * const cache = new FaultInjectingCacheStore(new MemoryCacheStore());
 * cache.faults.failAlways(); // memcached is down
 * ```
 */
export class FaultInjectingCacheStore implements CacheStore {
  /** Arms faults. */
  readonly faults: CacheFaults;
  readonly #inner: CacheStore;
  readonly #plan = new FaultPlan<CacheOperation, CacheEffect>();
  readonly #delays = new FaultPlan<CacheOperation, number>();
  #counts = zeroCounts();

  /**
   * Wraps a cache; no fault is armed at first.
   *
   * @param inner - the cache to wrap
   */
  constructor(inner: CacheStore) {
    this.#inner = inner;
    this.faults = {
      failNext: (count, options) => this.#plan.arm(count, 'fail', options?.operations),
      failAlways: (options) =>
        this.#plan.arm(Number.POSITIVE_INFINITY, 'fail', options?.operations),
      loseWrites: (count, options) =>
        this.#plan.arm(
          count === 'always' ? Number.POSITIVE_INFINITY : count,
          'lose',
          (options?.operations ?? WRITES).filter((op) => WRITES.includes(op)),
        ),
      delay: (ms, options) => this.#delays.arm(Number.POSITIVE_INFINITY, ms, options?.operations),
      heal: () => {
        this.#plan.clear();
        this.#delays.clear();
      },
    };
  }

  /** Calls that reached the wrapped cache since creation or {@link resetCalls}. */
  get calls(): Readonly<CacheCallCounts> {
    return { ...this.#counts };
  }

  /** Sets every call count back to zero. */
  resetCalls(): void {
    this.#counts = zeroCounts();
  }

  get<V extends CacheValue = CacheValue>(key: string): Promise<V | undefined> {
    return this.#run('get', key, () => this.#inner.get<V>(key), undefined);
  }

  getMany<V extends CacheValue = CacheValue>(keys: readonly string[]): Promise<Map<string, V>> {
    // The inner cache validates `keys`; the label must not throw first on a non-array.
    const label = Array.isArray(keys) ? keys.join(',') : '';
    return this.#run('getMany', label, () => this.#inner.getMany<V>(keys), undefined);
  }

  gets<V extends CacheValue = CacheValue>(key: string): Promise<CasEntry<V> | undefined> {
    return this.#run('gets', key, () => this.#inner.gets<V>(key), undefined);
  }

  cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options?: CacheWriteOptions,
  ): Promise<boolean> {
    return this.#run(
      'cas',
      key,
      () => this.#inner.cas(key, value, cas, options),
      async () => true,
    );
  }

  add(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<boolean> {
    return this.#run(
      'add',
      key,
      () => this.#inner.add(key, value, options),
      async () => true,
    );
  }

  set(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<void> {
    return this.#run(
      'set',
      key,
      () => this.#inner.set(key, value, options),
      async () => {},
    );
  }

  incr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    return this.#run(
      'incr',
      key,
      () => this.#inner.incr(key, delta, options),
      async () => {
        const current = await this.#inner.get(key);
        if (typeof current === 'number') return current + delta;
        return options?.initial === undefined ? undefined : options.initial + delta;
      },
    );
  }

  decr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    return this.#run(
      'decr',
      key,
      () => this.#inner.decr(key, delta, options),
      async () => {
        const current = await this.#inner.get(key);
        if (typeof current === 'number') return Math.max(current - delta, 0);
        return options?.initial === undefined ? undefined : Math.max(options.initial - delta, 0);
      },
    );
  }

  delete(key: string): Promise<boolean> {
    return this.#run(
      'delete',
      key,
      () => this.#inner.delete(key),
      async () => true,
    );
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async #run<R>(
    op: CacheOperation,
    key: string,
    call: () => Promise<R>,
    lost: (() => Promise<R>) | undefined,
  ): Promise<R> {
    const delayMs = this.#delays.take(op);
    if (delayMs !== undefined) await sleep(delayMs);
    const effect = this.#plan.take(op);
    if (effect === 'fail') {
      throw new CacheUnavailableError(`Injected cache failure of ${op} (fault injection).`, {
        context: { operation: op, key },
      });
    }
    if (effect === 'lose' && lost) return lost();
    this.#counts[op] += 1;
    return call();
  }
}
