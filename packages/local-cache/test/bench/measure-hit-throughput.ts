import { type CacheStore, MemoryCacheStore } from '@shardcount/storage';
import { realCacheStore, startMemcached } from '@shardcount/test-services';
import { LRUCache } from 'lru-cache';
import { LocalCache } from '../../src/index.js';

/**
 * Hit throughput of LocalCache.get against a plain lru-cache get, measured in one run. Not a
 * test and not the project benchmark (that is `pnpm bench`): a quick number for the README.
 *
 * Run: node packages/local-cache/test/fixtures/run-typescript.mjs \
 *        "$PWD/packages/local-cache/test/bench/measure-hit-throughput.ts"
 */
const KEYS = Array.from({ length: 1_000 }, (_, i) => `key-${i}`);
const DURATION_MS = 1_500;

async function measure(
  name: string,
  concurrency: number,
  op: (key: string) => unknown,
): Promise<{ name: string; opsPerSecond: number }> {
  // Warm-up, then a fixed-duration run with `concurrency` awaited loops.
  for (let i = 0; i < 2_000; i++) await op(KEYS[i % KEYS.length] as string);
  let ops = 0;
  const started = performance.now();
  const deadline = started + DURATION_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      let i = worker;
      while (performance.now() < deadline) {
        for (let batch = 0; batch < 64; batch++) await op(KEYS[i++ % KEYS.length] as string);
        ops += 64;
      }
    }),
  );
  const opsPerSecond = Math.round((ops / (performance.now() - started)) * 1000);
  return { name, opsPerSecond };
}

function warmLocalCache(store: CacheStore, maxStalenessMs: number): Promise<LocalCache<string>> {
  const cache = new LocalCache<string>({
    cache: store,
    namespace: `bench-${Date.now()}`,
    maxStalenessMs,
  });
  return cache
    .getMany(KEYS, async (keys) => new Map(keys.map((k) => [k, `v-${k}`])))
    .then(() => cache);
}

export async function main(): Promise<void> {
  const lru = new LRUCache<string, string>({ max: 10_000 });
  for (const key of KEYS) lru.set(key, `v-${key}`);
  const asyncLruGet = async (key: string): Promise<string | undefined> => lru.get(key);
  const loader = async (key: string): Promise<string> => `v-${key}`;

  const memory = new MemoryCacheStore();
  const server = await startMemcached();
  const memcached = realCacheStore({ address: server.address });
  try {
    const stale = await warmLocalCache(memory, 60_000);
    const memoryChecked = await warmLocalCache(memory, 0);
    const memcachedChecked = await warmLocalCache(memcached, 0);
    const results = [
      await measure('plain lru-cache get', 1, (key) => lru.get(key)),
      await measure('plain lru-cache get inside an async function', 1, asyncLruGet),
      await measure('LocalCache.get, maxStalenessMs 60000 (no round trip)', 1, (key) =>
        stale.get(key, loader),
      ),
      await measure('LocalCache.get, maxStalenessMs 0, MemoryCacheStore', 1, (key) =>
        memoryChecked.get(key, loader),
      ),
      await measure('LocalCache.get, maxStalenessMs 0, memcached, sequential', 1, (key) =>
        memcachedChecked.get(key, loader),
      ),
      await measure('LocalCache.get, maxStalenessMs 0, memcached, 64 in flight', 64, (key) =>
        memcachedChecked.get(key, loader),
      ),
    ];
    const baseline = results[0]?.opsPerSecond ?? 1;
    console.log(
      `Node ${process.version}, ${DURATION_MS} ms per scenario, ${KEYS.length} keys, all hits`,
    );
    for (const { name, opsPerSecond } of results) {
      const ratio = (opsPerSecond / baseline).toPrecision(2);
      console.log(`${name.padEnd(58)} ${String(opsPerSecond).padStart(11)} ops/s  (${ratio}x lru)`);
    }
    for (const [name, cache] of [
      ['stale', stale],
      ['memory', memoryChecked],
      ['memcached', memcachedChecked],
    ] as const) {
      const { hits, misses, loads } = cache.stats();
      console.log(`${name}: hits ${hits}, misses ${misses}, loads ${loads}`);
    }
  } finally {
    await memcached.close();
    await server.stop();
  }
}
