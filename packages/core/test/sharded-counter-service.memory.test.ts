import { setImmediate as nextTurn } from 'node:timers/promises';
import { MAX_SHARDS, ShardedCounterService } from '@shardcount/core';
import {
  AmbiguousCommitError,
  LimitExceededError,
  MemoryCacheStore,
  MemoryEntityStore,
} from '@shardcount/storage';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import { v4 as uuidv4 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { counterKinds, shardKey } from '../src/counter-entities.js';
import { runCounterSuite } from './helpers/counter-suite.js';

runCounterSuite({
  label: 'the embedded adapters (MemoryEntityStore + MemoryCacheStore)',
  sequentialIncrements: 50,
  makeEnv: async () => {
    const store = new MemoryEntityStore();
    const cache = new MemoryCacheStore();
    return {
      store,
      cache,
      cacheKeyPrefix: `core-test-${uuidv4()}:`,
      close: async () => {
        await Promise.all([store.close(), cache.close()]);
      },
    };
  },
});

describe('cached total freshness bound (embedded adapters, fake clock)', () => {
  it('a lost cache update leaves the total short by that update for at most cacheTtlSeconds', async () => {
    let nowMs = Date.now();
    const memory = new MemoryCacheStore({ now: () => nowMs });
    const cache = new FaultInjectingCacheStore(memory);
    const service = new ShardedCounterService({
      store: new MemoryEntityStore(),
      cache,
      cacheTtlSeconds: 30,
    });
    await service.increment('views', 10);
    expect((await service.getCounter('views'))?.count).toBe(10);
    // The writer's incr "succeeds" but never lands, as when a process dies right after commit.
    cache.faults.loseWrites(1, { operations: ['incr'] });
    await service.increment('views', 1);
    expect((await service.getCounter('views', { skipCache: true }))?.count).toBe(11);
    expect((await service.getCounter('views'))?.count).toBe(10);
    // Later adjustments do not extend the lineage: it still expires 30 s after its fill.
    await service.increment('views', 1);
    expect((await service.getCounter('views'))?.count).toBe(11);
    nowMs += 31_000;
    expect((await service.getCounter('views'))?.count).toBe(12);
  });

  it('a reader that summed before a concurrent write cannot store its stale sum', async () => {
    const store = new MemoryEntityStore();
    const cache = new MemoryCacheStore();
    const reader = new ShardedCounterService({ store, cache });
    const writer = new ShardedCounterService({ store, cache });
    await writer.increment('likes', 5);
    // Slow the reader's store read so the writer commits and settles in the middle of it.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const original = store.loadMany.bind(store);
    let first = true;
    store.loadMany = (async (keys: Parameters<typeof original>[0]) => {
      const result = await original(keys);
      if (first && !store.inTransaction) {
        first = false;
        await gate; // the reader has summed 5 and waits
      }
      return result;
    }) as typeof store.loadMany;
    const read = reader.getCounter('likes');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writer.increment('likes', 1); // commits while the reader holds its stale sum
    release();
    expect((await read)?.count).toBe(5); // the read itself saw the earlier state
    expect((await reader.getCounter('likes'))?.count).toBe(6); // but it did not cache it
  });
});

describe("an ambiguous commit of the caller's transaction (embedded adapters, fake clock)", () => {
  it('without an idempotency key, the cached total misses the change for at most cacheTtlSeconds', async () => {
    let nowMs = Date.now();
    const cache = new MemoryCacheStore({ now: () => nowMs });
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    const service = new ShardedCounterService({ store, cache, cacheTtlSeconds: 30 });
    await service.increment('orders', 10);
    expect((await service.getCounter('orders'))?.count).toBe(10); // filled now
    nowMs += 10_000;
    store.faults.ambiguousNextCommit(1, { applied: true });
    await expect(
      store.transact(() => service.increment('orders', 5, { isolated: false })),
    ).rejects.toThrow(AmbiguousCommitError);
    expect((await service.getCounter('orders', { skipCache: true }))?.count).toBe(15);
    expect((await service.getCounter('orders'))?.count).toBe(10);
    nowMs += 21_000; // 31 s after the fill
    expect((await service.getCounter('orders'))?.count).toBe(15);
    expect((await service.getCounter('orders'))?.count).toBe(15);
  });
});

describe(`counters of MAX_SHARDS (${MAX_SHARDS}) shards (embedded adapters)`, () => {
  const shards = 1000;
  const total = (shards * (shards + 1)) / 2; // shard i holds i + 1

  /** A counter of 1000 shards, shard i holding i + 1, written straight into the store. */
  async function seeded(store: MemoryEntityStore | FaultInjectingEntityStore) {
    const service = new ShardedCounterService({ store, cache: new MemoryCacheStore() });
    const name = `big-${uuidv4()}`;
    await service.createCounter(name, { numShards: shards });
    const kinds = counterKinds('Shardcount');
    const now = new Date();
    await store.saveMany(
      Array.from({ length: shards }, (_, index) => ({
        key: shardKey(kinds, name, index),
        entity: { counterName: name, index, count: index + 1, createdAt: now, updatedAt: now },
      })),
    );
    return { service, name };
  }

  const shardRows = async (store: MemoryEntityStore, name: string) =>
    (
      await store.query(counterKinds('Shardcount').shard, {
        filters: [{ property: 'counterName', value: name }],
      })
    ).map((row) => row.entity);

  it('is the most a counter may have', () => {
    expect(MAX_SHARDS).toBe(shards);
  });

  it('getCounter on a miss reads the counter and 1000 shards in two lookups and fills the cache', async () => {
    const memory = new MemoryEntityStore();
    const store = new FaultInjectingEntityStore(memory);
    const { service, name } = await seeded(store);
    store.resetCalls();
    expect(await service.getCounter(name)).toMatchObject({ numShards: shards, count: total });
    expect(store.calls).toMatchObject({ lookup: 2, beginTransaction: 0, commit: 0 });
    store.resetCalls();
    expect((await service.getCounter(name))?.count).toBe(total);
    expect(store.calls.lookup).toBe(0);
    await service.increment(name, 7);
    expect((await service.getCounter(name))?.count).toBe(total + 7);
    expect((await service.getCounter(name, { skipCache: true }))?.count).toBe(total + 7);
  });

  it('shrinking 1000 -> 10 keeps the exact total, also for every read during the shrink', async () => {
    const store = new MemoryEntityStore();
    const { service, name } = await seeded(store);
    let shrinking = true;
    const seen: number[] = [];
    const reader = async () => {
      while (shrinking) {
        const counter = await service.getCounter(name, { skipCache: true });
        if (counter !== undefined) seen.push(counter.count);
        await nextTurn();
      }
    };
    const readers = [reader(), reader()];
    const shrunk = await service.updateCounter(name, { numShards: 10 }).finally(() => {
      shrinking = false;
    });
    await Promise.all(readers);
    expect(shrunk).toMatchObject({ numShards: 10, count: total, status: 'AVAILABLE' });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((c) => c === total)).toBe(true);
    const rows = await shardRows(store, name);
    expect(rows).toHaveLength(10);
    expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(total);
    // Shard k received every shard i with i mod 10 = k.
    for (const row of rows) {
      let expected = 0;
      for (let i = row.index; i < shards; i += 10) expected += i + 1;
      expect(row.count).toBe(expected);
    }
    expect((await service.getCounter(name))?.count).toBe(total);
  });

  it('reset zeroes 1000 non-empty shards in batches; reads are the old total or 0, never between', async () => {
    const store = new MemoryEntityStore();
    const { service, name } = await seeded(store);
    expect((await service.getCounter(name))?.count).toBe(total);
    let resetting = true;
    const seen: number[] = [];
    const reader = async () => {
      while (resetting) {
        const counter = await service.getCounter(name, { skipCache: true });
        if (counter !== undefined) seen.push(counter.count);
        await nextTurn();
      }
    };
    const readers = [reader(), reader()];
    await service.reset(name).finally(() => {
      resetting = false;
    });
    await Promise.all(readers);
    expect(seen.every((c) => c === total || c === 0)).toBe(true);
    expect(await service.getCounter(name)).toMatchObject({ count: 0, status: 'AVAILABLE' });
    const rows = await shardRows(store, name);
    expect(rows).toHaveLength(shards);
    expect(rows.every((r) => r.count === 0)).toBe(true);
    await service.increment(name, 3);
    expect((await service.getCounter(name))?.count).toBe(3);
  });

  it('a read whose second lookup follows a reset of all 1000 shards is repeated, never torn', async () => {
    const store = new MemoryEntityStore();
    const { service, name } = await seeded(store);
    const other = new ShardedCounterService({ store, cache: new MemoryCacheStore() });
    const original = store.loadMany.bind(store);
    let calls = 0;
    store.loadMany = (async (keys: Parameters<typeof original>[0]) => {
      // The first lookup (counter + shards 0..499) is on its way; reset before the second.
      if (!store.inTransaction && ++calls === 2) await other.reset(name);
      return original(keys);
    }) as typeof store.loadMany;
    try {
      expect((await service.getCounter(name, { skipCache: true }))?.count).toBe(0);
    } finally {
      store.loadMany = original as typeof store.loadMany;
    }
    expect(calls).toBeGreaterThan(2); // the torn read was repeated
  });

  it('an exact decrement takes from the largest shards; one needing over 500 writes fails whole', async () => {
    const store = new MemoryEntityStore();
    const { service, name } = await seeded(store);
    const op = await service.decrement(name, 1990, { mode: 'exact' });
    expect(op.appliedAmount).toBe(1990);
    expect(op.shardIndex).toBe(999); // 1000 + 990 from the two largest shards
    expect((await service.getCounter(name))?.count).toBe(total - 1990);
    // 450,000 needs about 670 shards: more than 500 writes in one transaction.
    await expect(service.decrement(name, 450_000, { mode: 'exact' })).rejects.toThrow(
      LimitExceededError,
    );
    expect((await service.getCounter(name))?.count).toBe(total - 1990);
    expect((await service.getCounter(name, { skipCache: true }))?.count).toBe(total - 1990);
  });

  it('delete removes 1000 shards in chunked commits, and the name is free again', async () => {
    const memory = new MemoryEntityStore();
    const store = new FaultInjectingEntityStore(memory);
    const { service, name } = await seeded(store);
    expect(await service.delete(name)).toBe(true);
    expect(await shardRows(memory, name)).toHaveLength(0);
    expect(await service.getCounter(name)).toBeUndefined();
    expect(await service.getCounter(name, { skipCache: true })).toBeUndefined();
    expect((await service.increment(name)).counterCreated).toBe(true);
  });
});
