import { LocalCache } from '@shardcount/local-cache';
import { MemoryCacheStore, setOperationTracing } from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { instrumentShardcount, type ShardcountInstrumentation } from '../src/index.js';
import { telemetry } from './helpers/telemetry.js';

describe('LocalCache through instrumentShardcount', () => {
  let instrumentation: ShardcountInstrumentation | undefined;
  afterEach(() => {
    instrumentation?.disable();
    instrumentation = undefined;
  });

  it("setOperationTracing('local-cache', false) skips its spans on every method; true brings them back", async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const cache = new LocalCache<string>({ cache: new MemoryCacheStore() });
    setOperationTracing('local-cache', false);
    try {
      await cache.get('a', async () => 'x');
      await cache.getMany(['a', 'b'], async (keys) => new Map(keys.map((k) => [k, k])));
      await cache.invalidate('a');
      await cache.invalidateMany(['a', 'b']);
    } finally {
      setOperationTracing('local-cache', true);
    }
    const names = t.spans.getFinishedSpans().map((span) => span.name);
    expect(names.filter((name) => name.startsWith('shardcount.local-cache.'))).toEqual([]);
    await cache.get('a', async () => 'x');
    expect(
      t.spans.getFinishedSpans().filter((s) => s.name === 'shardcount.local-cache.get'),
    ).toHaveLength(1);
  });

  it('traces get, getMany and invalidate, and counts hits, misses and loads', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount({ ...t, recordCounterNames: true });
    const cache = new LocalCache<string>({ cache: new MemoryCacheStore() });
    expect(await cache.get('user:1', async () => 'ada')).toBe('ada'); // miss, load
    expect(await cache.get('user:1', async () => 'never')).toBe('ada'); // hit
    await cache.getMany(['user:1', 'user:2'], async (keys) => new Map(keys.map((k) => [k, k])));
    await cache.invalidate('user:1');

    const names = t.spans.getFinishedSpans().map((s) => s.name);
    expect(names.filter((n) => n === 'shardcount.local-cache.get')).toHaveLength(2);
    expect(names).toContain('shardcount.local-cache.getMany');
    expect(names).toContain('shardcount.local-cache.invalidate');
    const get = t.spans.getFinishedSpans().find((s) => s.name === 'shardcount.local-cache.get');
    expect(get?.attributes['shardcount.counter.name']).toBe('user:1');

    const metrics = await t.metricsByName();
    const total = (name: string) =>
      (metrics.get(name) ?? []).reduce((sum, p) => sum + (p.value as number), 0);
    expect(total('shardcount.local_cache.hit')).toBe(2); // the second get and user:1 in getMany
    expect(total('shardcount.local_cache.miss')).toBe(2); // the first get and user:2
    expect(total('shardcount.local_cache.load')).toBe(2);
    expect(total('shardcount.local_cache.invalidated')).toBe(1);
    expect(stats(cache)).toEqual({ hits: 2, misses: 2, loads: 2 });
  });

  it('counts failed loads and invalidated keys', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const cache = new LocalCache<string>({ cache: new MemoryCacheStore() });
    await expect(cache.get('k', () => Promise.reject(new Error('source down')))).rejects.toThrow(
      'source down',
    );
    await cache.invalidateMany(['a', 'b', 'c']);
    const metrics = await t.metricsByName();
    expect(metrics.get('shardcount.local_cache.load_failed')?.[0]?.value).toBe(1);
    expect(metrics.get('shardcount.local_cache.invalidated')?.[0]?.value).toBe(3);
  });

  it('counts stale serves and tag-store errors while the tag store is down', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const tags = new FaultInjectingCacheStore(new MemoryCacheStore());
    const cache = new LocalCache<string>({
      cache: tags,
      onCacheUnavailable: 'serve-stale',
      graceMs: 60_000,
    });
    await cache.get('k', async () => 'v');
    tags.faults.failAlways();
    expect(await cache.get('k', async () => 'never')).toBe('v');
    const metrics = await t.metricsByName();
    expect(metrics.get('shardcount.local_cache.stale_served')?.[0]?.value).toBe(1);
    expect(metrics.get('shardcount.local_cache.tag_store_error')?.[0]?.value).toBe(1);
  });
});

function stats(cache: LocalCache<string>) {
  const { hits, misses, loads } = cache.stats();
  return { hits, misses, loads };
}
