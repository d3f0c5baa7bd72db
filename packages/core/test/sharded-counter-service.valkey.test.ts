import { setTimeout as sleep } from 'node:timers/promises';
import { ShardedCounterService } from '@shardcount/core';
import { realCacheStore, realEntityStore, startValkey } from '@shardcount/test-services';
import { v4 as uuidv4 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { runCounterSuite } from './helpers/counter-suite.js';

// The real-services suite again, with the cached totals on Valkey: one server, then a
// three-primary cluster (each counter's total key lands on whichever node owns its slot).
// Ten sequential increments instead of the memcached run's fifty: the cache's part of each
// is the same, and the Datastore emulator's part would only add minutes to every CI run.
for (const [cacheKind, label] of [
  ['valkey', 'the Datastore emulator + a Valkey server'],
  ['valkey-cluster', 'the Datastore emulator + a Valkey cluster'],
] as const) {
  runCounterSuite({
    label,
    sequentialIncrements: 10,
    makeEnv: async () => {
      const store = realEntityStore();
      const cache = realCacheStore({ cache: cacheKind });
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
}

describe('a Valkey server stopped mid-run (private server)', () => {
  it('writes succeed, reads stay exact from the store, and the cache is used again after restart', async () => {
    const server = await startValkey();
    const store = realEntityStore();
    const cache = realCacheStore({ cache: 'valkey', address: server.url, timeoutMs: 300 });
    try {
      const service = new ShardedCounterService({ store, cache, cacheTimeoutMs: 1000 });
      const hits: string[] = [];
      const errors: string[] = [];
      service.on('cacheHit', (e) => hits.push(e.counterName));
      service.on('cacheError', (e) => errors.push(e.call));
      const name = `outage-${uuidv4()}`;
      for (let i = 1; i <= 5; i++) await service.increment(name);
      expect((await service.getCounter(name))?.count).toBe(5);
      expect((await service.getCounter(name))?.count).toBe(5);
      expect(hits.length).toBeGreaterThan(0);

      await server.stop();
      for (let i = 6; i <= 10; i++) {
        const op = await service.increment(name);
        expect(op.appliedAmount).toBe(1);
        expect((await service.getCounter(name))?.count).toBe(i);
      }
      expect((await service.decrement(name, 3)).appliedAmount).toBe(3);
      expect((await service.getCounter(name))?.count).toBe(7);
      expect(errors.length).toBeGreaterThan(0);

      await server.restart();
      const hitsBefore = hits.length;
      // The client reconnects and the store fails calls fast for failFastMs (1 s) after its
      // last failure; reads stay exact meanwhile, then the cache fills and serves again.
      for (let attempt = 0; attempt < 20 && hits.length === hitsBefore; attempt++) {
        expect((await service.getCounter(name))?.count).toBe(7);
        if (hits.length === hitsBefore) await sleep(200);
      }
      expect(hits.length).toBeGreaterThan(hitsBefore);
      await service.increment(name, 3);
      expect((await service.getCounter(name))?.count).toBe(10);
      expect((await service.getCounter(name, { skipCache: true }))?.count).toBe(10);
    } finally {
      await Promise.allSettled([cache.close(), store.close()]);
      await server.stop();
    }
  });
});
