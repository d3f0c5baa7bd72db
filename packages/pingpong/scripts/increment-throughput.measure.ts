/**
 * Increments per second through PingPongCounter against raw memcached increments, on the
 * same private memcached in the same run: sequential, and 64 in flight. A measurement, not
 * a test (no assertions on speed). Run from the repository root:
 *
 *   npx vitest run --config packages/pingpong/scripts/vitest.measure.config.ts
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { MemoryEntityStore } from '@shardcount/storage';
import { realCacheStore, startMemcached } from '@shardcount/test-services';
import { it } from 'vitest';
import { PingPongCounter } from '../src/index.js';

interface RawClient {
  increment(
    key: string,
    amount: number,
    options: { initial: number; expires: number },
  ): Promise<unknown>;
  close(): void;
}

// memjs is a dependency of @shardcount/storage, not of this package: load it from there.
const requireFromStorage = createRequire(new URL('../../storage/package.json', import.meta.url));
const memjs = requireFromStorage('memjs') as {
  Client: { create(servers: string, options: object): RawClient };
};

async function rate(
  total: number,
  inFlight: number,
  call: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) await call(next++);
    }),
  );
  return Math.round(total / ((performance.now() - started) / 1000));
}

it('measures increments per second', async () => {
  const server = await startMemcached();
  const raw = memjs.Client.create(server.address, { logger: { log() {} } });
  const cache = realCacheStore({ address: server.address });
  const counter = new PingPongCounter({
    cache,
    store: new MemoryEntityStore(),
    registrationDelayMs: 60_000,
  });
  try {
    const rows: string[] = [];
    for (const [label, total, inFlight] of [
      ['sequential', 5_000, 1],
      ['64 in flight', 50_000, 64],
    ] as const) {
      // Warm up every path once (connections, JIT), then measure each path in turn, twice.
      await rate(500, inFlight, () => raw.increment('warm', 1, { initial: 0, expires: 600 }));
      await rate(500, inFlight, () => counter.increment('warm'));
      const results = { raw: [] as number[], store: [] as number[], pingpong: [] as number[] };
      for (let round = 0; round < 3; round++) {
        results.raw.push(
          await rate(total, inFlight, () => raw.increment('raw', 1, { initial: 0, expires: 600 })),
        );
        results.store.push(
          await rate(total, inFlight, () =>
            cache.incr('store', 1, { initial: 0, ttlSeconds: 600 }),
          ),
        );
        results.pingpong.push(await rate(total, inFlight, () => counter.increment('pingpong')));
      }
      const best = (xs: number[]): number => Math.max(...xs);
      rows.push(
        `| ${label} | ${best(results.raw)} | ${best(results.store)} | ${best(results.pingpong)} | ${(best(results.pingpong) / best(results.raw)).toFixed(2)} | ${(best(results.pingpong) / best(results.store)).toFixed(2)} |`,
      );
    }
    console.log(
      [
        `Node ${process.version}, memcached on 127.0.0.1 (private), best of 3 interleaved rounds, increments/s`,
        '| mode | raw memjs increment | MemcachedCacheStore.incr | PingPongCounter.increment | pingpong / raw | pingpong / store |',
        '|---|---|---|---|---|---|',
        ...rows,
      ].join('\n'),
    );
  } finally {
    await counter.close();
    await cache.close();
    raw.close();
    await server.stop();
  }
});
