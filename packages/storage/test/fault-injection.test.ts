import { describe, expect, test } from 'vitest';
import {
  AmbiguousCommitError,
  CacheUnavailableError,
  ContentionError,
  defineKind,
  LimitExceededError,
  MemoryCacheStore,
  MemoryEntityStore,
  StoreUnavailableError,
} from '../src/index.js';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '../src/testing/index.js';

const Things = defineKind<{ n: number }>('Thing');

describe('FaultInjectingEntityStore', () => {
  test('counts backend calls: a transaction is begin + lookup + commit', async () => {
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    await store.transact(async () => {
      const [a, b] = await store.loadMany([Things.key('a'), Things.key('b')]);
      await store.save(Things.key('a'), { n: (a?.n ?? 0) + (b?.n ?? 0) + 1 });
    });
    expect(store.calls).toEqual({
      beginTransaction: 1,
      lookup: 1,
      commit: 1,
      rollback: 0,
      query: 0,
    });
    store.resetCalls();
    expect(store.calls.commit).toBe(0);
  });

  test('shares data with the wrapped store', async () => {
    const inner = new MemoryEntityStore();
    const store = new FaultInjectingEntityStore(inner);
    await store.save(Things.key('a'), { n: 1 });
    expect(await inner.load(Things.key('a'))).toEqual({ n: 1 });
  });

  test('failNext fails exactly n matching calls, then heals by itself', async () => {
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    store.faults.failNext(2, { operations: ['lookup'] });
    await expect(store.load(Things.key('a'))).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.save(Things.key('a'), { n: 1 });
    await expect(store.load(Things.key('a'))).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.load(Things.key('a'))).toEqual({ n: 1 });
  });

  test('failAlways lasts until heal, with a custom error', async () => {
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    store.faults.failAlways({ error: () => new Error('custom') });
    await expect(store.save(Things.key('a'), { n: 1 })).rejects.toThrow('custom');
    await expect(store.load(Things.key('a'))).rejects.toThrow('custom');
    store.faults.heal();
    expect(await store.load(Things.key('a'))).toBeUndefined();
  });

  test('contendNext makes transact retry; nothing of the failed attempt is written', async () => {
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    store.faults.contendNext(2);
    const attempts: number[] = [];
    await store.transact(
      async ({ attempt }) => {
        attempts.push(attempt);
        const current = await store.load(Things.key('a'));
        await store.save(Things.key('a'), { n: (current?.n ?? 0) + 1 });
      },
      { retry: { minTimeoutMs: 1, maxTimeoutMs: 2 } },
    );
    expect(attempts).toEqual([1, 2, 3]);
    expect(await store.load(Things.key('a'))).toEqual({ n: 1 });
    store.faults.contendNext(1);
    await expect(store.save(Things.key('b'), { n: 1 })).rejects.toBeInstanceOf(ContentionError);
  });

  test('ambiguousNextCommit applies (or not) and is never retried', async () => {
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    let runs = 0;
    const work = async (): Promise<void> => {
      runs += 1;
      await store.save(Things.key('a'), { n: runs });
    };
    store.faults.ambiguousNextCommit(1, { applied: true });
    await expect(store.transact(work)).rejects.toBeInstanceOf(AmbiguousCommitError);
    expect(runs).toBe(1);
    expect(await store.load(Things.key('a'))).toEqual({ n: 1 });
    store.faults.ambiguousNextCommit(1, { applied: false });
    await expect(store.transact(work)).rejects.toBeInstanceOf(AmbiguousCommitError);
    expect(runs).toBe(2);
    expect(await store.load(Things.key('a'))).toEqual({ n: 1 });
  });

  test('enforces production limits the wrapped backend does not', async () => {
    const inner = new MemoryEntityStore({
      limits: { maxLookupKeys: 10_000, maxMutationsPerCommit: 10_000 },
    });
    const store = new FaultInjectingEntityStore(inner, {
      limits: { maxLookupKeys: 1000, maxMutationsPerCommit: 500 },
    });
    const keys = Array.from({ length: 2500 }, (_, i) => Things.key(`k${i}`));
    await store.saveMany(keys.map((key, i) => ({ key, entity: { n: i } })));
    expect(store.calls.commit).toBe(5);
    const loaded = await store.loadMany(keys);
    expect(store.calls.lookup).toBe(3);
    expect(loaded.map((e) => e?.n)).toEqual(keys.map((_, i) => i));
    await expect(store.backend.lookup(keys)).rejects.toBeInstanceOf(LimitExceededError);
  });

  test('delay postpones calls until healed', async () => {
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    store.faults.delay(50, { operations: ['lookup'] });
    const started = Date.now();
    await store.load(Things.key('a'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    store.faults.heal();
  });
});

describe('FaultInjectingCacheStore', () => {
  test('counts calls per verb', async () => {
    const cache = new FaultInjectingCacheStore(new MemoryCacheStore());
    await cache.set('a', 1);
    await cache.get('a');
    await cache.incr('a', 1);
    expect(cache.calls).toMatchObject({ set: 1, get: 1, incr: 1, gets: 0 });
  });

  test('failAlways is a dead cache until heal; failNext counts down', async () => {
    const cache = new FaultInjectingCacheStore(new MemoryCacheStore());
    cache.faults.failAlways();
    await expect(cache.get('a')).rejects.toBeInstanceOf(CacheUnavailableError);
    await expect(cache.set('a', 1)).rejects.toBeInstanceOf(CacheUnavailableError);
    cache.faults.heal();
    await cache.set('a', 1);
    cache.faults.failNext(1, { operations: ['incr'] });
    expect(await cache.get('a')).toBe(1);
    await expect(cache.incr('a', 1)).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(await cache.incr('a', 1)).toBe(2);
  });

  test('loseWrites reports success and changes nothing', async () => {
    const cache = new FaultInjectingCacheStore(new MemoryCacheStore());
    await cache.set('a', 1);
    cache.faults.loseWrites(2);
    expect(await cache.incr('a', 5)).toBe(6);
    expect(await cache.add('b', 1)).toBe(true);
    expect(await cache.get('a')).toBe(1);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.incr('a', 5)).toBe(6);
    expect(await cache.get('a')).toBe(6);
  });
});
