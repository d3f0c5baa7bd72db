import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ValkeyCacheStore } from '@shardcount/storage/valkey';
import {
  realEntityStore,
  startValkeyCluster,
  type ValkeyCluster,
  valkeyClusterClient,
} from '@shardcount/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PingPongCounter } from '../src/index.js';
import { FakeClock, INTERVAL_MS } from './support/environment.js';

describe('PingPongCounter on a Valkey cluster whose primaries fail over under load', () => {
  let cluster: ValkeyCluster;

  beforeAll(async () => {
    cluster = await startValkeyCluster({ primaries: 3, replicasPerPrimary: 1 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('every increment that returned is in the durable count once, after a failover of every primary', async () => {
    const clusterClient = valkeyClusterClient(cluster.addresses);
    const cache = new ValkeyCacheStore({ client: clusterClient, timeoutMs: 3_000 });
    const store = realEntityStore();
    const clock = new FakeClock();
    const counter = new PingPongCounter({
      cache,
      store,
      intervalMs: INTERVAL_MS,
      namespace: `ppf-${randomUUID().slice(0, 8)}`,
      now: clock.now,
    });
    // Names whose slots are spread over the three primaries.
    const names = Array.from({ length: 12 }, (_, i) => `views-${i}`);
    const returned = new Map(names.map((name) => [name, 0]));
    const outcomes = new Map<string, number>();
    let running = true;
    try {
      const workers = Array.from({ length: 12 }, async (_, w) => {
        for (let i = w; running; i++) {
          const name = names[i % names.length]!;
          const outcome = await counter.increment(name);
          returned.set(name, returned.get(name)! + 1);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      });
      await sleep(200);
      for (const primary of await cluster.primaries()) await cluster.failover(primary);
      await sleep(200);
      running = false;
      await Promise.all(workers);

      clock.closeEpoch();
      const report = await counter.flush();
      expect(report.errors).toEqual([]);
      for (const name of names) {
        expect(await counter.get(name)).toMatchObject({
          durable: returned.get(name),
          pending: 0,
          pendingKnown: true,
        });
      }
      // The slots were served throughout: nothing had to be written through or dropped.
      expect([...outcomes.keys()]).toEqual(['cached']);
    } finally {
      running = false;
      await counter.close();
      await cache.close();
      clusterClient.disconnect();
      await store.close();
    }
  });
});
