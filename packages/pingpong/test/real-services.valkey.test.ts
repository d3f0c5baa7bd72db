import { CacheUnavailableError } from '@shardcount/storage';
import {
  type RealCacheKind,
  realCacheStore,
  realEntityStore,
  startValkey,
  type ValkeyServer,
} from '@shardcount/test-services';
import { v4 as uuid } from 'uuid';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CacheUnavailablePolicy, PingPongCounter } from '../src/index.js';
import { durabilityScenarios } from './support/durability-scenarios.js';
import { FakeClock, INTERVAL_MS, makeEnvironment } from './support/environment.js';
import { batchReadScenarios } from './support/read-scenarios.js';
import { inParallel, pingPongScenarios } from './support/scenarios.js';
import { signalScenarios } from './support/signal-scenarios.js';

/** The real-services environment with the slots on Valkey instead of memcached. */
function valkeyEnvironment(cacheKind: RealCacheKind) {
  return async () => {
    // A generous timeout: these scenarios inject cache faults themselves, and a loaded test
    // machine must not turn a slow answer into an unplanned outage.
    const cache = realCacheStore({ cache: cacheKind, timeoutMs: 3_000 });
    const store = realEntityStore();
    return makeEnvironment('real', cache, store, new FakeClock(), async () => {
      await cache.close();
      await store.close();
    });
  };
}

pingPongScenarios('Valkey server + Datastore emulator', valkeyEnvironment('valkey'));
pingPongScenarios('Valkey cluster + Datastore emulator', valkeyEnvironment('valkey-cluster'));
// On the server only for now: "delete racing increments and a flush" assumes fewer than 200
// increments land during a delete, which fails whenever the delete's transaction is slow (the
// test run alone, on memcached too: 700-12,000 seen); on the cluster it failed within the
// full file as well. It can run there once that precondition is relaxed.
durabilityScenarios('Valkey server + Datastore emulator', valkeyEnvironment('valkey'));
// getMany's one multi-get spans every slot owner of the cluster.
batchReadScenarios('Valkey cluster + Datastore emulator', valkeyEnvironment('valkey-cluster'));
signalScenarios('Valkey server + Datastore emulator', valkeyEnvironment('valkey'));

describe('PingPongCounter when a real Valkey server stops mid-run', () => {
  let server: ValkeyServer;

  beforeAll(async () => {
    server = await startValkey();
  });

  afterAll(async () => {
    await server?.stop();
  });

  const expected: Record<CacheUnavailablePolicy, { outcome: string; durable: number }> = {
    // 20 cached before the stop, 10 during it, 20 cached after the restart.
    'write-through': { outcome: 'written-through', durable: 50 },
    drop: { outcome: 'dropped', durable: 40 },
    throw: { outcome: 'rejected', durable: 40 },
  };

  for (const policy of ['write-through', 'drop', 'throw'] as const) {
    it(`applies onCacheUnavailable '${policy}' while Valkey is stopped`, async () => {
      const cache = realCacheStore({ cache: 'valkey', address: server.url, timeoutMs: 300 });
      const store = realEntityStore();
      const clock = new FakeClock();
      const counter = new PingPongCounter({
        cache,
        store,
        intervalMs: INTERVAL_MS,
        namespace: `pp-${uuid().slice(0, 8)}`,
        now: clock.now,
        onCacheUnavailable: policy,
      });
      const name = 'stopped';
      try {
        await inParallel(4, 5, () => counter.increment(name));
        // Drain them first: a restarted server comes back empty (no persistence).
        clock.closeEpoch();
        expect((await counter.flush()).moved).toBe(20);

        await server.stop();
        const outcomes = new Set<string>();
        await inParallel(2, 5, async () => {
          try {
            outcomes.add(await counter.increment(name));
          } catch (error) {
            expect(error).toBeInstanceOf(CacheUnavailableError);
            outcomes.add('rejected');
          }
        });
        expect([...outcomes]).toEqual([expected[policy].outcome]);
        expect((await counter.get(name)).pendingKnown).toBe(false);

        await server.restart();
        await vi.waitFor(() => cache.get('probe'), { timeout: 10_000, interval: 100 });
        await inParallel(4, 5, async () => expect(await counter.increment(name)).toBe('cached'));
        clock.closeEpoch();
        const report = await counter.flush();
        expect(report.errors).toEqual([]);
        expect(await counter.get(name)).toMatchObject({
          durable: expected[policy].durable,
          pending: 0,
          pendingKnown: true,
        });
        if (policy === 'drop') expect(counter.stats().lostIncrements).toBe(10);
      } finally {
        await counter.close();
        await cache.close();
        await store.close();
        if (!server.running) await server.restart();
      }
    });
  }
});
