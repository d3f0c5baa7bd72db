import { setTimeout as sleep } from 'node:timers/promises';
import { ShardedCounterService } from '@shardcount/core';
import { ValkeyCacheStore } from '@shardcount/storage/valkey';
import {
  realEntityStore,
  startValkeyCluster,
  type ValkeyCluster,
  valkeyClusterClient,
} from '@shardcount/test-services';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('cached totals on a Valkey cluster whose primaries fail over under load', () => {
  let cluster: ValkeyCluster;

  beforeAll(async () => {
    cluster = await startValkeyCluster({ primaries: 3, replicasPerPrimary: 1 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('increments and reads through a failover of every primary leave no cached total stale', async () => {
    const clusterClient = valkeyClusterClient(cluster.addresses);
    const cache = new ValkeyCacheStore({ client: clusterClient, timeoutMs: 3_000 });
    const store = realEntityStore();
    const service = new ShardedCounterService({
      store,
      cache,
      cacheKeyPrefix: `core-failover-${uuidv4()}:`,
    });
    const names = Array.from({ length: 6 }, (_, i) => `likes-${i}`);
    const applied = new Map(names.map((name) => [name, 0]));
    const cacheErrors: string[] = [];
    service.on('cacheError', (event) => cacheErrors.push(event.call));
    let running = true;
    try {
      for (const name of names) {
        await service.increment(name);
        applied.set(name, 1);
        expect((await service.getCounter(name))?.count).toBe(1);
      }
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; running; i++) {
          const name = names[i % names.length]!;
          const op = await service.increment(name);
          applied.set(name, applied.get(name)! + op.appliedAmount);
        }
      });
      const readers = Array.from({ length: 2 }, async (_, r) => {
        for (let i = r; running; i++) await service.getCounter(names[i % names.length]!);
      });
      await sleep(300);
      for (const primary of await cluster.primaries()) await cluster.failover(primary);
      await sleep(300);
      running = false;
      await Promise.all([...writers, ...readers]);

      for (const name of names) {
        const exact = (await service.getCounter(name, { skipCache: true }))?.count;
        expect(exact).toBe(applied.get(name));
        // The cached total (a hit now) agrees with the store.
        expect((await service.getCounter(name))?.count).toBe(exact);
      }
      expect(cacheErrors).toEqual([]);
    } finally {
      running = false;
      await cache.close();
      clusterClient.disconnect();
      await store.close();
    }
  });
});
