import type {
  CacheCounterOptions,
  CacheStore,
  CacheValue,
  CacheWriteOptions,
  CasEntry,
  CasToken,
} from '../cache/cache-store.js';
import type { StoreCallOptions } from '../entity/entity-store.js';
import { CacheUnavailableError } from '../errors/index.js';
import { abortableDelay } from '../operation/index.js';
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
  /** Whether a fault may be armed (since creation or the last heal): else calls go straight through. */
  #armed = false;
  #counts = zeroCounts();

  /**
   * Wraps a cache; no fault is armed at first.
   *
   * @param inner - the cache to wrap
   */
  constructor(inner: CacheStore) {
    this.#inner = inner;
    this.faults = {
      failNext: (count, options) => {
        this.#plan.arm(count, 'fail', options?.operations);
        this.#armed = true;
      },
      failAlways: (options) => {
        this.#plan.arm(Number.POSITIVE_INFINITY, 'fail', options?.operations);
        this.#armed = true;
      },
      loseWrites: (count, options) => {
        this.#plan.arm(
          count === 'always' ? Number.POSITIVE_INFINITY : count,
          'lose',
          (options?.operations ?? WRITES).filter((op) => WRITES.includes(op)),
        );
        this.#armed = true;
      },
      delay: (ms, options) => {
        this.#delays.arm(Number.POSITIVE_INFINITY, ms, options?.operations);
        this.#armed = true;
      },
      heal: () => {
        this.#plan.clear();
        this.#delays.clear();
        this.#armed = false;
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

  // Without an armed fault a call goes straight to the wrapped cache (counted): the
  // benchmarks measure through this wrapper, so it must cost next to nothing.

  get<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<V | undefined> {
    if (!this.#armed) return this.#direct('get', () => this.#inner.get<V>(key, options));
    return this.#run('get', key, options, () => this.#inner.get<V>(key, options), undefined);
  }

  getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
    options?: StoreCallOptions,
  ): Promise<Map<string, V>> {
    if (!this.#armed) return this.#direct('getMany', () => this.#inner.getMany<V>(keys, options));
    // The inner cache validates `keys`; the label must not throw first on a non-array.
    const label = Array.isArray(keys) ? keys.join(',') : '';
    return this.#run(
      'getMany',
      label,
      options,
      () => this.#inner.getMany<V>(keys, options),
      undefined,
    );
  }

  gets<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<CasEntry<V> | undefined> {
    if (!this.#armed) return this.#direct('gets', () => this.#inner.gets<V>(key, options));
    return this.#run('gets', key, options, () => this.#inner.gets<V>(key, options), undefined);
  }

  cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options?: CacheWriteOptions,
  ): Promise<boolean> {
    const call = () => this.#inner.cas(key, value, cas, options);
    if (!this.#armed) return this.#direct('cas', call);
    return this.#run('cas', key, options, call, async () => true);
  }

  add(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<boolean> {
    const call = () => this.#inner.add(key, value, options);
    if (!this.#armed) return this.#direct('add', call);
    return this.#run('add', key, options, call, async () => true);
  }

  set(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<void> {
    const call = () => this.#inner.set(key, value, options);
    if (!this.#armed) return this.#direct('set', call);
    return this.#run('set', key, options, call, async () => {});
  }

  incr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    if (!this.#armed) {
      this.#counts.incr += 1;
      return this.#inner.incr(key, delta, options);
    }
    return this.#run(
      'incr',
      key,
      options,
      () => this.#inner.incr(key, delta, options),
      async () => {
        const current = await this.#inner.get(key);
        if (typeof current === 'number') return current + delta;
        return options?.initial === undefined ? undefined : options.initial + delta;
      },
    );
  }

  decr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    if (!this.#armed) {
      this.#counts.decr += 1;
      return this.#inner.decr(key, delta, options);
    }
    return this.#run(
      'decr',
      key,
      options,
      () => this.#inner.decr(key, delta, options),
      async () => {
        const current = await this.#inner.get(key);
        if (typeof current === 'number') return Math.max(current - delta, 0);
        return options?.initial === undefined ? undefined : Math.max(options.initial - delta, 0);
      },
    );
  }

  delete(key: string, options?: StoreCallOptions): Promise<boolean> {
    const call = () => this.#inner.delete(key, options);
    if (!this.#armed) return this.#direct('delete', call);
    return this.#run('delete', key, options, call, async () => true);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** Counts and makes the call; what it throws comes back as a rejection, as from #run. */
  #direct<R>(op: CacheOperation, call: () => Promise<R>): Promise<R> {
    this.#counts[op] += 1;
    try {
      return call();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #run<R>(
    op: CacheOperation,
    key: string,
    options: StoreCallOptions | undefined,
    call: () => Promise<R>,
    lost: (() => Promise<R>) | undefined,
  ): Promise<R> {
    const delayMs = this.#delays.take(op);
    // An injected delay ends early when the call's signal aborts, as a slow server's would.
    const signal = readSignal(options);
    if (delayMs !== undefined) await abortableDelay(delayMs, signal, { operation: op, key });
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

/** The signal of a call's options, if it has a readable one (the wrapped cache checks them). */
function readSignal(options: StoreCallOptions | undefined): AbortSignal | undefined {
  try {
    const signal: unknown = options?.signal;
    return signal instanceof AbortSignal ? signal : undefined;
  } catch {
    return undefined;
  }
}
