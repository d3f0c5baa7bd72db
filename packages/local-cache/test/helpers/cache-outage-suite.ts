import type { CacheStore } from '@shardcount/storage';
import {
  type MemcachedServer,
  realCacheStore,
  startMemcached,
  startValkey,
  type ValkeyServer,
} from '@shardcount/test-services';
import { v4 as uuidv4 } from 'uuid';
import { afterEach, describe, expect, test } from 'vitest';
import { type CacheOutagePolicy, LocalCache } from '../../src/index.js';

/** A short store timeout keeps the outage cheap; a refused connection fails at once anyway. */
const TIMEOUT_MS = 300;

/** Bounded retry of a step that needs memcached back (the first calls after a restart may time out). */
async function eventually<T>(step: () => Promise<T>, accept: (value: T) => boolean): Promise<T> {
  let last: T | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      last = await step();
      if (accept(last)) return last;
    } catch {
      // memcached not reachable yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`condition not met after 50 attempts; last value ${String(last)}`);
}

/** A private server of `kind` and a store on it. */
async function startPrivateCache(
  kind: 'memcached' | 'valkey',
): Promise<{ server: MemcachedServer | ValkeyServer; store: CacheStore }> {
  if (kind === 'memcached') {
    const server = await startMemcached();
    return { server, store: realCacheStore({ address: server.address, timeoutMs: TIMEOUT_MS }) };
  }
  const server = await startValkey();
  return {
    server,
    store: realCacheStore({ cache: 'valkey', address: server.url, timeoutMs: TIMEOUT_MS }),
  };
}

/**
 * A private cache server of `kind` stopped and restarted under readers: reads never fail,
 * follow each outage policy while it is down, and recover once it is back.
 */
export function runCacheOutageSuite(kind: 'memcached' | 'valkey'): void {
  describe.each<CacheOutagePolicy>(['load', 'serve-stale'])(
    `a private ${kind} server stopped and restarted mid-run, policy '%s'`,
    (policy) => {
      let server: MemcachedServer | ValkeyServer | undefined;
      let store: CacheStore | undefined;
      let stopReaders = async (): Promise<void> => {};
      afterEach(async () => {
        // Readers first (also when the test failed), so none reads a closed store.
        await stopReaders().catch(() => {});
        await store?.close();
        await server?.stop();
      });

      test('reads never fail, follow the policy during the outage, and recover', async () => {
        ({ server, store } = await startPrivateCache(kind));
        const cache = new LocalCache<number>({
          cache: store,
          namespace: `lc-outage-${uuidv4()}`,
          onCacheUnavailable: policy,
          graceMs: 60_000,
        });
        let version = 1;
        let providerCalls = 0;
        const provider = async (): Promise<number> => {
          providerCalls += 1;
          return version;
        };
        const key = 'k';

        // Readers run through the whole stop/restart. Each records the version it read and
        // `guaranteed` when it began: the oldest version the policy allows it to return.
        const observed: Array<{ floor: number; read: number; phase: string }> = [];
        let guaranteed = 1;
        let phase = 'up';
        let running = true;
        const readers: Promise<void>[] = [];
        stopReaders = async () => {
          running = false;
          await Promise.all(readers);
        };
        readers.push(
          ...Array.from({ length: 3 }, async () => {
            while (running) {
              const floor = guaranteed;
              const current = phase;
              observed.push({ floor, read: await cache.get(key, provider), phase: current });
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
          }),
        );

        await eventually(
          () => cache.get(key, provider),
          (value) => value === 1,
        );
        const callsBeforeOutage = providerCalls;

        await server.stop();
        phase = 'down';
        version = 2; // the source changes while memcached is down
        // 'load' calls the provider for every read it cannot verify: it sees the change at once.
        if (policy === 'load') guaranteed = 2;
        const duringOutage: number[] = [];
        for (let i = 0; i < 3; i++) duringOutage.push(await cache.get(key, provider));
        if (policy === 'load') {
          // Nothing can be verified: every read goes to the provider and sees the change.
          expect(duringOutage).toEqual([2, 2, 2]);
          expect(providerCalls).toBeGreaterThanOrEqual(callsBeforeOutage + 3);
        } else {
          // The last successful check is recent: the local value is served, the provider rests.
          expect(duringOutage).toEqual([1, 1, 1]);
          expect(cache.stats().staleServed).toBeGreaterThanOrEqual(3);
        }
        await expect(cache.invalidate(key)).rejects.toMatchObject({ code: 'CACHE_UNAVAILABLE' });

        await server.restart();
        phase = 'restarted';
        // The restart lost every tag: the first successful check finds none and reloads, so
        // the change made during the outage is seen without any invalidation.
        await eventually(
          () => cache.get(key, provider),
          (value) => value === 2,
        );
        version = 3;
        await eventually(
          () => cache.invalidate(key).then(() => true),
          (ok) => ok,
        );
        phase = 'invalidated';
        guaranteed = 3;
        expect(await cache.get(key, provider)).toBe(3);
        await stopReaders();
        const callsAfterReload = providerCalls;
        expect(await cache.get(key, provider)).toBe(3);
        expect(providerCalls).toBe(callsAfterReload); // a hit again
        expect(cache.stats().errors).toBeGreaterThan(0);
        expect(observed.some(({ phase: at }) => at === 'down')).toBe(true);
        for (const { floor, read, phase: at } of observed) {
          // 'load' never serves what it cannot verify; 'serve-stale' may serve an older value
          // while checks fail (down, or reconnecting after the restart), never while up.
          if (policy === 'load' || at === 'up') expect(read).toBeGreaterThanOrEqual(floor);
        }
      });
    },
  );
}
