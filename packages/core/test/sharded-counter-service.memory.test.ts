import { ShardedCounterService } from '@shardcount/core';
import { MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { v4 as uuidv4 } from 'uuid';
import { describe, expect, it } from 'vitest';
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
    // The writer's CAS "succeeds" but never lands, as when a process dies right after commit.
    cache.faults.loseWrites(1, { operations: ['cas'] });
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
    const slowStore = new (class extends MemoryEntityStore {})();
    void slowStore;
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
