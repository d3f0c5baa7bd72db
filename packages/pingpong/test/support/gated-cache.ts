import type {
  CacheCounterOptions,
  CacheStore,
  CacheValue,
  CacheWriteOptions,
  CasEntry,
  CasToken,
} from '@shardcount/storage';

/** A multi-get held after it read, until released. */
export interface HeldRead {
  /** Resolves once the held multi-get has its answer (and waits). */
  readonly reached: Promise<void>;
  /** Lets the held multi-get return its (by then old) answer. */
  release(): void;
}

/**
 * A cache wrapper for interleaving tests: it can hold the next `getMany` after it has read
 * its values and before it returns them, i.e. a flush between its slot read and its
 * transaction. It also counts multi-gets and the keys they read.
 */
export class GatedCache implements CacheStore {
  readonly #inner: CacheStore;
  #gate: { reached: () => void; released: Promise<void> } | undefined;
  /** `getMany` calls so far. */
  getManyCalls = 0;
  /** Keys those calls read. */
  getManyKeys = 0;

  /** @param inner - the cache every call goes to */
  constructor(inner: CacheStore) {
    this.#inner = inner;
  }

  /** Holds the next `getMany` after its read; see {@link HeldRead}. */
  holdNextGetMany(): HeldRead {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#gate = { reached, released };
    return { reached: reachedPromise, release };
  }

  get<V extends CacheValue = CacheValue>(key: string): Promise<V | undefined> {
    return this.#inner.get<V>(key);
  }

  async getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
  ): Promise<Map<string, V>> {
    this.getManyCalls++;
    this.getManyKeys += keys.length;
    const found = await this.#inner.getMany<V>(keys);
    const gate = this.#gate;
    if (gate !== undefined) {
      this.#gate = undefined;
      gate.reached();
      await gate.released;
    }
    return found;
  }

  gets<V extends CacheValue = CacheValue>(key: string): Promise<CasEntry<V> | undefined> {
    return this.#inner.gets<V>(key);
  }

  cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options?: CacheWriteOptions,
  ): Promise<boolean> {
    return this.#inner.cas(key, value, cas, options);
  }

  add(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<boolean> {
    return this.#inner.add(key, value, options);
  }

  set(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<void> {
    return this.#inner.set(key, value, options);
  }

  incr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    return this.#inner.incr(key, delta, options);
  }

  decr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    return this.#inner.decr(key, delta, options);
  }

  delete(key: string): Promise<boolean> {
    return this.#inner.delete(key);
  }

  /** Does nothing: the inner cache belongs to the environment. */
  async close(): Promise<void> {}
}
