import { type CacheStore, CacheUnavailableError } from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { v4 as uuidv4 } from 'uuid';
import { afterEach, describe, expect, test } from 'vitest';
import { LocalCache, type LocalCacheOptions } from '../../src/index.js';
import { barrier, fakeClock, gate, settle } from './sync.js';

/** A tag store to run the suite against. */
export interface SuiteAdapter {
  /** Shown in the test names. */
  readonly name: string;
  /** A fresh client; the suite closes it after each test. */
  create(): CacheStore | Promise<CacheStore>;
}

/**
 * A source of truth for the tests: each key has a version that `update` bumps; the
 * provider returns `key@version` and records every call.
 */
class Source {
  readonly calls: string[] = [];
  readonly #versions = new Map<string, number>();

  version(key: string): number {
    return this.#versions.get(key) ?? 1;
  }

  update(key: string): void {
    this.#versions.set(key, this.version(key) + 1);
  }

  value(key: string): string {
    return `${key}@${this.version(key)}`;
  }

  readonly provider = async (key: string): Promise<string> => {
    this.calls.push(key);
    return this.value(key);
  };

  readonly manyProvider = async (keys: readonly string[]): Promise<Map<string, string>> => {
    this.calls.push(...keys);
    return new Map(keys.map((key) => [key, this.value(key)]));
  };
}

/**
 * The behaviour every tag store must give a {@link LocalCache}: the same cases run over the
 * embedded cache and real memcached. Each test uses its own namespace, so tests sharing one
 * memcached never see each other's tags.
 */
export function runLocalCacheSuite(adapter: SuiteAdapter): void {
  describe(`LocalCache over ${adapter.name}`, () => {
    const opened: CacheStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    /** A counting wrapper over a fresh store, plus a namespace unique to the test. */
    async function setup(): Promise<{ store: FaultInjectingCacheStore; namespace: string }> {
      const raw = await adapter.create();
      opened.push(raw);
      return { store: new FaultInjectingCacheStore(raw), namespace: `lc-test-${uuidv4()}` };
    }

    function cacheOver(
      store: CacheStore,
      namespace: string,
      options: Omit<LocalCacheOptions, 'cache' | 'namespace'> = {},
    ): LocalCache<string> {
      return new LocalCache<string>({ cache: store, namespace, ...options });
    }

    describe('hits and invalidation', () => {
      test('a second get is a hit: one tag read, no provider call', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const source = new Source();
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(source.calls).toEqual(['k']);
        expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, loads: 1, versionChecks: 2 });
        // The miss: a get that finds no tag, then the add creating it. Each hit after it:
        // exactly one single-key get (the fast path), never a batch read or a write.
        const before = { ...store.calls };
        for (let i = 0; i < 5; i += 1) expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(before).toMatchObject({ get: 2, getMany: 0, add: 1, set: 0 });
        expect(store.calls).toMatchObject({ get: 7, getMany: 0, add: 1, set: 0 });
        expect(cache.stats()).toMatchObject({ hits: 6, misses: 1, versionChecks: 7 });
      });

      test('invalidate in one instance makes another reload on its next get', async () => {
        const { store, namespace } = await setup();
        const a = cacheOver(store, namespace);
        const b = cacheOver(store, namespace);
        const source = new Source();
        expect(await a.get('k', source.provider)).toBe('k@1');
        expect(await b.get('k', source.provider)).toBe('k@1');
        expect(await b.get('k', source.provider)).toBe('k@1');
        expect(source.calls).toHaveLength(2);

        source.update('k');
        await a.invalidate('k');
        expect(await b.get('k', source.provider)).toBe('k@2');
        expect(await a.get('k', source.provider)).toBe('k@2');
        expect(source.calls).toHaveLength(4);
        expect(await b.get('k', source.provider)).toBe('k@2');
        expect(source.calls).toHaveLength(4);
      });

      test('invalidateMany invalidates every key it names and no other', async () => {
        const { store, namespace } = await setup();
        const a = cacheOver(store, namespace);
        const b = cacheOver(store, namespace);
        const source = new Source();
        for (const key of ['x', 'y', 'z']) await b.get(key, source.provider);
        source.update('x');
        source.update('y');
        await a.invalidateMany(['x', 'y', 'x']);
        expect(await b.get('x', source.provider)).toBe('x@2');
        expect(await b.get('y', source.provider)).toBe('y@2');
        expect(await b.get('z', source.provider)).toBe('z@1');
        expect(source.calls).toEqual(['x', 'y', 'z', 'x', 'y']);
      });

      test('delete and clear are local: other instances keep their entries', async () => {
        const { store, namespace } = await setup();
        const a = cacheOver(store, namespace);
        const b = cacheOver(store, namespace);
        const source = new Source();
        await a.get('k', source.provider);
        await a.get('j', source.provider);
        await b.get('k', source.provider);
        expect(a.delete('k')).toBe(true);
        expect(a.delete('k')).toBe(false);
        expect(a.peek('k')).toBeUndefined();
        expect(a.peek('j')).toBeDefined();
        await b.get('k', source.provider);
        expect(source.calls).toEqual(['k', 'j', 'k']);
        await a.get('k', source.provider);
        expect(source.calls).toEqual(['k', 'j', 'k', 'k']);
        a.clear();
        expect(a.size).toBe(0);
        await b.get('k', source.provider);
        await a.get('j', source.provider);
        expect(source.calls).toEqual(['k', 'j', 'k', 'k', 'j']);
      });
    });

    describe('single-flight', () => {
      test('100 concurrent gets of a missing key call the provider once', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const release = gate();
        let calls = 0;
        const provider = async (): Promise<string> => {
          calls += 1;
          await release.promise;
          return `loaded-${calls}`;
        };
        const reads = Array.from({ length: 100 }, () => cache.get('hot', provider));
        // Wait until every read has passed its tag check and joined or started the load.
        while (cache.stats().misses < 100) await settle();
        release.open();
        const values = await Promise.all(reads);
        expect(calls).toBe(1);
        expect(new Set(values)).toEqual(new Set(['loaded-1']));
        expect(cache.stats()).toMatchObject({ misses: 100, loads: 1, hits: 0 });
        // The tag was created once; every later add lost and re-read it.
        expect(store.calls.set).toBe(0);
      });

      test('loads of different keys run in parallel', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        // Each provider waits until all three have started: serialised loads would deadlock.
        const allStarted = barrier(3);
        const provider = async (key: string): Promise<string> => {
          await allStarted.arrive();
          return `v-${key}`;
        };
        const values = await Promise.all([
          cache.get('a', provider),
          cache.get('b', provider),
          cache.getMany(['c'], async (keys) => {
            await allStarted.arrive();
            return new Map(keys.map((key) => [key, `v-${key}`]));
          }),
        ]);
        expect(values[0]).toBe('v-a');
        expect(values[1]).toBe('v-b');
        expect(values[2]).toEqual(new Map([['c', 'v-c']]));
        expect(cache.stats().loads).toBe(3);
      });

      test('a provider error reaches every waiter, nothing is cached, the next get retries', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const release = gate();
        let calls = 0;
        const failure = new Error('source down');
        const failing = async (): Promise<string> => {
          calls += 1;
          await release.promise;
          throw failure;
        };
        const reads = Array.from({ length: 10 }, () => cache.get('k', failing));
        while (cache.stats().misses < 10) await settle();
        release.open();
        const outcomes = await Promise.allSettled(reads);
        expect(calls).toBe(1);
        for (const outcome of outcomes) {
          expect(outcome).toEqual({ status: 'rejected', reason: failure });
        }
        expect(cache.peek('k')).toBeUndefined();
        expect(await cache.get('k', async () => 'recovered')).toBe('recovered');
        expect(await cache.get('k', failing)).toBe('recovered');
        expect(calls).toBe(1);
      });

      test('a provider that throws synchronously is handled like a rejection', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const failure = new Error('sync throw');
        await expect(
          cache.get('k', () => {
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(cache.peek('k')).toBeUndefined();
      });
    });

    describe('loads racing invalidations', () => {
      test('an invalidate that completes during a load makes the next get reload', async () => {
        const { store, namespace } = await setup();
        const a = cacheOver(store, namespace);
        const other = cacheOver(store, namespace);
        const source = new Source();
        const started = gate();
        const release = gate();
        const slow = async (key: string): Promise<string> => {
          const value = source.value(key); // the provider reads the source first...
          started.open();
          await release.promise; // ...and is slow to return
          return value;
        };
        const loading = a.get('k', slow);
        await started.promise;
        source.update('k');
        await other.invalidate('k');
        release.open();
        // The load began before the invalidation: returning its (old) value is allowed...
        expect(await loading).toBe('k@1');
        // ...but it was stored under the tag read before the load, so the next get reloads.
        expect(await a.get('k', source.provider)).toBe('k@2');
        expect(await a.get('k', source.provider)).toBe('k@2');
        expect(source.calls).toEqual(['k']);
      });

      test('a get that begins after an invalidation never joins a load begun before it', async () => {
        const { store, namespace } = await setup();
        const a = cacheOver(store, namespace);
        const other = cacheOver(store, namespace);
        const source = new Source();
        const started = gate();
        const release = gate();
        let slowCalls = 0;
        const slow = async (key: string): Promise<string> => {
          slowCalls += 1;
          const value = source.value(key);
          started.open();
          await release.promise;
          return value;
        };
        const early = a.get('k', slow);
        await started.promise;
        source.update('k');
        await other.invalidate('k');
        // The early load is still in flight under the old tag.
        const late = a.get('k', source.provider);
        while (a.stats().misses < 2) await settle();
        release.open();
        expect(await late).toBe('k@2');
        expect(await early).toBe('k@1');
        expect(slowCalls).toBe(1);
        expect(source.calls).toEqual(['k']);
        // The early load's result did not displace the newer entry.
        expect(await a.get('k', source.provider)).toBe('k@2');
        expect(source.calls).toEqual(['k']);
      });

      test('invalidate in the same instance discards its loads in flight', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { maxStalenessMs: 60_000 });
        const source = new Source();
        const started = gate();
        const release = gate();
        const slow = async (key: string): Promise<string> => {
          const value = source.value(key);
          started.open();
          await release.promise;
          return value;
        };
        const loading = cache.get('k', slow);
        await started.promise;
        source.update('k');
        await cache.invalidate('k');
        release.open();
        expect(await loading).toBe('k@1');
        expect(cache.peek('k')).toBeUndefined();
        // Even with a long staleness window, this process reads its own invalidation.
        expect(await cache.get('k', source.provider)).toBe('k@2');
      });
    });

    describe('version tags in the store', () => {
      test('a missing tag is created with add, never set; only invalidate sets', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { versionTtlSeconds: 120 });
        const source = new Source();
        await cache.get('k', source.provider);
        expect(store.calls).toMatchObject({ get: 1, add: 1, set: 0 });
        const tag = await store.get(`${namespace}:v:k`);
        expect(typeof tag).toBe('string');
        expect(cache.peek('k')?.tag).toBe(tag);
        await cache.get('k', source.provider);
        expect(store.calls).toMatchObject({ get: 3, add: 1, set: 0 });
        await cache.invalidate('k');
        expect(store.calls).toMatchObject({ add: 1, set: 1 });
        expect(await store.get(`${namespace}:v:k`)).not.toBe(tag);
      });

      test('losing the add to another process adopts its tag instead of overwriting it', async () => {
        const { store, namespace } = await setup();
        const racerTag = `racer-${uuidv4()}`;
        // Another process creates the tag between this one's read and its add.
        const racing: CacheStore = new Proxy(store, {
          get(target, property) {
            if (property === 'add') {
              return async (...args: Parameters<CacheStore['add']>) => {
                await target.add(args[0], racerTag, { ttlSeconds: 60 });
                return target.add(...args);
              };
            }
            const member = Reflect.get(target, property);
            return typeof member === 'function' ? member.bind(target) : member;
          },
        });
        const cache = cacheOver(racing, namespace);
        const source = new Source();
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(cache.peek('k')?.tag).toBe(racerTag);
        expect(await store.get(`${namespace}:v:k`)).toBe(racerTag);
        expect(store.calls.set).toBe(0);
        // The entry is current under the adopted tag: a hit.
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(source.calls).toHaveLength(1);
      });

      test('a tag that disappears (eviction, expiry, restart) means reload', async () => {
        const { store, namespace } = await setup();
        const a = cacheOver(store, namespace);
        const b = cacheOver(store, namespace);
        const source = new Source();
        await a.get('k', source.provider);
        await b.get('k', source.provider);
        await store.delete(`${namespace}:v:k`);
        source.update('k');
        expect(await a.get('k', source.provider)).toBe('k@2');
        expect(await b.get('k', source.provider)).toBe('k@2');
        expect(source.calls).toHaveLength(4);
        expect(store.calls.set).toBe(0);
        expect(store.calls.add).toBe(2);
      });

      test('a tag write lost by the store is caught by the next check', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const source = new Source();
        store.faults.loseWrites(1, { operations: ['add'] });
        expect(await cache.get('k', source.provider)).toBe('k@1');
        // The add "succeeded" but stored nothing: the entry's tag matches no stored tag.
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(source.calls).toHaveLength(2);
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(source.calls).toHaveLength(2);
      });
    });

    describe('getMany', () => {
      test('reads all tags in one getMany round trip and calls the provider once', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const source = new Source();
        const keys = ['a', 'b', 'c', 'd', 'e'];
        expect(await cache.getMany(keys, source.manyProvider)).toEqual(
          new Map(keys.map((key) => [key, `${key}@1`])),
        );
        expect(store.calls).toMatchObject({ getMany: 1, get: 0, add: 5, set: 0 });
        store.resetCalls();
        source.update('c');
        await cacheOver(store, namespace).invalidate('c');
        store.resetCalls();
        const again = await cache.getMany(['a', 'b', 'c', 'd', 'e', 'f'], source.manyProvider);
        expect([...again.keys()]).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
        expect(again.get('c')).toBe('c@2');
        expect(store.calls).toMatchObject({ getMany: 1, get: 0, add: 1 });
        expect(source.calls).toEqual(['a', 'b', 'c', 'd', 'e', 'c', 'f']);
        expect(cache.stats()).toMatchObject({ loads: 2, hits: 4, misses: 7 });
      });

      test('joins loads in flight and keeps the caller order, once per duplicate key', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const source = new Source();
        const release = gate();
        const slowGet = cache.get('b', async (key) => {
          await release.promise;
          return `slow-${key}`;
        });
        while (cache.stats().loads < 1) await settle();
        const many = cache.getMany(['c', 'b', 'a', 'c'], source.manyProvider);
        while (cache.stats().loads < 2) await settle();
        release.open();
        const values = await many;
        expect([...values.entries()]).toEqual([
          ['c', 'c@1'],
          ['b', 'slow-b'],
          ['a', 'a@1'],
        ]);
        expect(await slowGet).toBe('slow-b');
        expect(source.calls).toEqual(['c', 'a']);
      });

      test('a key missing from the provider map is cached as undefined', async () => {
        const { store, namespace } = await setup();
        const cache = new LocalCache<string | undefined>({ cache: store, namespace });
        let calls = 0;
        const partial = async (keys: readonly string[]): Promise<Map<string, string>> => {
          calls += 1;
          return new Map(keys.filter((key) => key !== 'gone').map((key) => [key, `v-${key}`]));
        };
        const first = await cache.getMany(['here', 'gone'], partial);
        expect(first.has('gone')).toBe(true);
        expect(first.get('gone')).toBeUndefined();
        expect(cache.peek('gone')).toMatchObject({ value: undefined });
        await cache.getMany(['here', 'gone'], partial);
        expect(calls).toBe(1);
      });

      test('a provider error rejects the call and caches nothing', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const source = new Source();
        await cache.get('a', source.provider);
        const failure = new Error('batch failed');
        await expect(
          cache.getMany(['a', 'b', 'c'], async () => {
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(cache.peek('a')?.value).toBe('a@1');
        expect(cache.peek('b')).toBeUndefined();
        expect(await cache.getMany(['b'], source.manyProvider)).toEqual(new Map([['b', 'b@1']]));
      });

      test('a provider returning something other than a Map is rejected', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        await expect(
          cache.getMany(['a'], async () => ({ a: 'x' }) as unknown as Map<string, string>),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
        expect(cache.peek('a')).toBeUndefined();
      });
    });

    describe('undefined and null values', () => {
      test('are cached and told apart from a miss', async () => {
        const { store, namespace } = await setup();
        const cache = new LocalCache<string | null | undefined>({ cache: store, namespace });
        let calls = 0;
        const returns = (value: null | undefined) => async (): Promise<null | undefined> => {
          calls += 1;
          return value;
        };
        expect(await cache.get('u', returns(undefined))).toBeUndefined();
        expect(await cache.get('n', returns(null))).toBeNull();
        expect(await cache.get('u', returns(undefined))).toBeUndefined();
        expect(await cache.get('n', returns(null))).toBeNull();
        expect(calls).toBe(2);
        expect(cache.peek('u')).toMatchObject({ value: undefined });
        expect(cache.peek('n')).toMatchObject({ value: null });
        expect(cache.peek('absent')).toBeUndefined();
        expect(cache.stats()).toMatchObject({ hits: 2, loads: 2 });
        await cache.invalidate('u');
        expect(await cache.get('u', async () => 'now set')).toBe('now set');
      });
    });

    describe('staleness, TTL and size', () => {
      test('maxStalenessMs serves an entry checked within the window without a round trip', async () => {
        const { store, namespace } = await setup();
        const clock = fakeClock();
        const reader = cacheOver(store, namespace, { maxStalenessMs: 1_000, now: clock.now });
        const writer = cacheOver(store, namespace);
        const source = new Source();
        await reader.get('k', source.provider);
        const checksAfterLoad = reader.stats().versionChecks;
        const storeCalls = store.calls.get + store.calls.getMany;
        source.update('k');
        await writer.invalidate('k');
        clock.advance(999);
        // Within the window: the old value, no tag read at all.
        expect(await reader.get('k', source.provider)).toBe('k@1');
        expect(await reader.getMany(['k'], source.manyProvider)).toEqual(new Map([['k', 'k@1']]));
        expect(reader.stats().versionChecks).toBe(checksAfterLoad);
        expect(store.calls.get + store.calls.getMany).toBe(storeCalls);
        clock.advance(1);
        // Window over: checked, found invalidated, reloaded.
        expect(await reader.get('k', source.provider)).toBe('k@2');
        expect(reader.stats().versionChecks).toBe(checksAfterLoad + 1);
        expect(source.calls).toHaveLength(2);
      });

      test('a successful check opens a new staleness window', async () => {
        const { store, namespace } = await setup();
        const clock = fakeClock();
        const cache = cacheOver(store, namespace, { maxStalenessMs: 1_000, now: clock.now });
        const source = new Source();
        await cache.get('k', source.provider);
        const loadedAt = cache.peek('k')?.checkedAt ?? Number.NaN;
        clock.advance(1_500);
        await cache.get('k', source.provider); // checked: still current
        expect(cache.peek('k')?.checkedAt).toBe(loadedAt + 1_500);
        const checks = cache.stats().versionChecks;
        clock.advance(900);
        await cache.get('k', source.provider);
        expect(cache.stats().versionChecks).toBe(checks);
        expect(source.calls).toHaveLength(1);
      });

      test('ttlMs ends an entry’s life even when its tag is current; hits do not extend it', async () => {
        const { store, namespace } = await setup();
        const clock = fakeClock();
        const cache = cacheOver(store, namespace, { ttlMs: 5_000, now: clock.now });
        const source = new Source();
        await cache.get('k', source.provider);
        clock.advance(4_000);
        await cache.get('k', source.provider);
        expect(source.calls).toHaveLength(1);
        clock.advance(1_001);
        expect(cache.peek('k')).toBeUndefined();
        await cache.get('k', source.provider);
        expect(source.calls).toHaveLength(2);
      });

      test('maxEntries evicts the least recently used entry', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { maxEntries: 2 });
        const source = new Source();
        await cache.get('a', source.provider);
        await cache.get('b', source.provider);
        await cache.get('a', source.provider); // a is now the most recent
        await cache.get('c', source.provider); // evicts b
        expect(cache.size).toBe(2);
        expect(cache.peek('b')).toBeUndefined();
        expect(cache.peek('a')?.value).toBe('a@1');
        expect(cache.peek('c')?.value).toBe('c@1');
        await cache.get('a', source.provider);
        await cache.get('b', source.provider);
        expect(source.calls).toEqual(['a', 'b', 'c', 'b']);
      });
    });

    describe('tag store outages (injected)', () => {
      test("'load' calls the provider on every get while the store fails, then recovers", async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { onCacheUnavailable: 'load' });
        const source = new Source();
        await cache.get('k', source.provider);
        store.faults.failAlways();
        for (let i = 0; i < 3; i++) {
          source.update('k');
          expect(await cache.get('k', source.provider)).toBe(source.value('k'));
        }
        expect(source.calls).toHaveLength(4);
        expect(cache.stats()).toMatchObject({ errors: 3, staleServed: 0, loads: 4 });
        store.faults.heal();
        // The values loaded during the outage carry no tag: reloaded once, then hits again.
        expect(await cache.get('k', source.provider)).toBe('k@4');
        expect(await cache.get('k', source.provider)).toBe('k@4');
        expect(source.calls).toHaveLength(5);
      });

      test("'load' keeps single-flight during an outage", async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { onCacheUnavailable: 'load' });
        store.faults.failAlways();
        const release = gate();
        let calls = 0;
        const reads = Array.from({ length: 20 }, () =>
          cache.get('k', async () => {
            calls += 1;
            await release.promise;
            return 'v';
          }),
        );
        while (cache.stats().misses < 20) await settle();
        release.open();
        expect(await Promise.all(reads)).toEqual(Array(20).fill('v'));
        expect(calls).toBe(1);
        expect(cache.stats().errors).toBe(20);
      });

      test('during an outage, a get never joins a load that began before it', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { onCacheUnavailable: 'load' });
        const source = new Source();
        store.faults.failAlways();
        const started = gate();
        const release = gate();
        const early = cache.get('k', async (key) => {
          const value = source.value(key);
          started.open();
          await release.promise;
          return value;
        });
        await started.promise;
        source.update('k');
        // Begun after the early load read the source: it must not be handed that value.
        const late = cache.get('k', source.provider);
        while (cache.stats().misses < 2) await settle();
        release.open();
        expect(await late).toBe('k@2');
        expect(await early).toBe('k@1');
        expect(cache.stats().loads).toBe(2);
      });

      test("'serve-stale' serves the local value within graceMs of its last check, then loads", async () => {
        const { store, namespace } = await setup();
        const clock = fakeClock();
        const cache = cacheOver(store, namespace, {
          onCacheUnavailable: 'serve-stale',
          graceMs: 10_000,
          now: clock.now,
        });
        const source = new Source();
        await cache.get('k', source.provider);
        clock.advance(5_000);
        await cache.get('k', source.provider); // a successful check at t+5s
        store.faults.failAlways();
        source.update('k');
        clock.advance(10_000);
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(cache.stats()).toMatchObject({ staleServed: 1, errors: 1 });
        expect(source.calls).toHaveLength(1);
        clock.advance(1);
        // Past the grace period: loaded, and that fresh value is served stale in turn.
        expect(await cache.get('k', source.provider)).toBe('k@2');
        source.update('k');
        clock.advance(10_000);
        expect(await cache.get('k', source.provider)).toBe('k@2');
        expect(cache.stats()).toMatchObject({ staleServed: 2, errors: 3 });
        expect(source.calls).toHaveLength(2);
        store.faults.heal();
        expect(await cache.get('k', source.provider)).toBe('k@3');
        expect(await cache.get('k', source.provider)).toBe('k@3');
        expect(source.calls).toHaveLength(3);
      });

      test('a failing add (after a successful read) follows the outage policy', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace);
        const source = new Source();
        store.faults.failNext(1, { operations: ['add'] });
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(cache.stats().errors).toBe(1);
        expect(cache.peek('k')?.tag).toBeUndefined();
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(await cache.get('k', source.provider)).toBe('k@1');
        expect(source.calls).toHaveLength(2);
      });

      test('getMany during an outage: stale within grace, one batch load for the rest', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { onCacheUnavailable: 'serve-stale' });
        const source = new Source();
        await cache.getMany(['a', 'b'], source.manyProvider);
        store.faults.failAlways();
        source.update('a');
        const values = await cache.getMany(['a', 'b', 'c', 'd'], source.manyProvider);
        expect(values).toEqual(
          new Map([
            ['a', 'a@1'],
            ['b', 'b@1'],
            ['c', 'c@1'],
            ['d', 'd@1'],
          ]),
        );
        expect(source.calls).toEqual(['a', 'b', 'c', 'd']);
        expect(cache.stats()).toMatchObject({ staleServed: 2, loads: 2, errors: 1 });
      });

      test('invalidate during an outage drops the local entry and throws CacheUnavailableError', async () => {
        const { store, namespace } = await setup();
        const cache = cacheOver(store, namespace, { onCacheUnavailable: 'serve-stale' });
        const source = new Source();
        await cache.get('k', source.provider);
        await cache.get('j', source.provider);
        store.faults.failAlways({ operations: ['set'] });
        await expect(cache.invalidate('k')).rejects.toBeInstanceOf(CacheUnavailableError);
        expect(cache.peek('k')).toBeUndefined();
        await expect(cache.invalidateMany(['k', 'j'])).rejects.toMatchObject({
          code: 'CACHE_UNAVAILABLE',
          context: { failed: 2, total: 2 },
        });
        expect(cache.stats().errors).toBe(3);
        store.faults.heal();
        await cache.invalidate('k');
      });
    });
  });
}
