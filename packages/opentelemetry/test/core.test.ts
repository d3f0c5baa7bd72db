import { CounterNotMutableError, CounterStatus, ShardedCounterService } from '@shardcount/core';
import {
  MemoryCacheStore,
  MemoryEntityStore,
  OperationAbortedError,
  setOperationTracing,
} from '@shardcount/storage';
import { FaultInjectingEntityStore } from '@shardcount/storage/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { instrumentShardcount, type ShardcountInstrumentation } from '../src/index.js';
import { telemetry } from './helpers/telemetry.js';

type Telemetry = ReturnType<typeof telemetry>;

function spansNamed(t: Telemetry, name: string) {
  return t.spans.getFinishedSpans().filter((span) => span.name === name);
}

/** Names of the spans whose parent is `parent`. */
function childrenOf(t: Telemetry, parent: { spanContext(): { spanId: string } }): string[] {
  const id = parent.spanContext().spanId;
  return t.spans
    .getFinishedSpans()
    .filter((span) => span.parentSpanContext?.spanId === id)
    .map((span) => span.name);
}

describe('ShardedCounterService through instrumentShardcount', () => {
  let instrumentation: ShardcountInstrumentation | undefined;
  afterEach(() => {
    instrumentation?.disable();
    instrumentation = undefined;
  });

  it('traces every public operation, with backend calls as children', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount({ ...t, recordCounterNames: true });
    const service = new ShardedCounterService({
      store: new MemoryEntityStore(),
      cache: new MemoryCacheStore(),
    });
    await service.increment('views', 3); // creates the counter
    await service.increment('views', 2); // fast path: one lookup, one commit
    expect((await service.getCounter('views'))?.count).toBe(5); // miss, fills
    expect((await service.getCounter('views'))?.count).toBe(5); // hit
    await service.decrement('views', 1, { mode: 'exact' });
    await service.createCounter('likes', { numShards: 2 });
    await service.updateCounter('likes', { numShards: 4 });
    await service.reset('likes');
    expect(await service.delete('likes')).toBe(true);

    const increments = spansNamed(t, 'shardcount.core.increment');
    expect(increments).toHaveLength(2);
    const fast = increments[1]!;
    expect(fast.attributes).toMatchObject({
      'shardcount.package': 'core',
      'shardcount.operation': 'increment',
      'shardcount.counter.name': 'views',
      'shardcount.amount': 2,
      'shardcount.attempts': 1,
    });
    expect(fast.attributes['shardcount.shard']).toBeTypeOf('number');
    const fastChildren = childrenOf(t, fast);
    expect(fastChildren).toContain('lookup memory');
    expect(fastChildren).toContain('commit memory');

    const reads = spansNamed(t, 'shardcount.core.getCounter');
    expect(reads.map((span) => span.attributes['shardcount.cache.outcome'])).toEqual([
      'miss',
      'hit',
    ]);
    // The miss summed the shards from the store; the hit never reached it.
    expect(childrenOf(t, reads[0]!)).toContain('lookup memory');
    expect(childrenOf(t, reads[1]!)).not.toContain('lookup memory');

    const decrement = spansNamed(t, 'shardcount.core.decrement')[0];
    expect(decrement?.attributes).toMatchObject({
      'shardcount.amount': 1,
      'shardcount.applied_amount': 1,
      'shardcount.mode': 'exact',
    });
    for (const operation of ['createCounter', 'updateCounter', 'reset', 'delete']) {
      const [span] = spansNamed(t, `shardcount.core.${operation}`);
      expect(span, operation).toBeDefined();
      expect(childrenOf(t, span!), operation).toContain('commit memory');
    }
    expect(spansNamed(t, 'shardcount.core.delete')[0]?.attributes['shardcount.existed']).toBe(true);

    const metrics = await t.metricsByName();
    const durations = metrics.get('shardcount.operation.duration') ?? [];
    const operations = new Set(
      durations.map((p) => (p.attributes as Record<string, unknown>)['shardcount.operation']),
    );
    expect([...operations].sort()).toEqual(
      [
        'createCounter',
        'decrement',
        'delete',
        'getCounter',
        'increment',
        'reset',
        'updateCounter',
      ].sort(),
    );
  });

  it('a refused increment of a read-only counter is an error span with error.type', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const service = new ShardedCounterService({
      store: new MemoryEntityStore(),
      cache: new MemoryCacheStore(),
    });
    await service.createCounter('frozen');
    await service.updateCounter('frozen', { status: CounterStatus.READ_ONLY_COUNT });
    await expect(service.increment('frozen')).rejects.toThrow(CounterNotMutableError);
    const [span] = spansNamed(t, 'shardcount.core.increment');
    expect(span?.status.code).toBe(2); // SpanStatusCode.ERROR
    expect(span?.attributes['error.type']).toBe('COUNTER_NOT_MUTABLE');
    // Counter names stay off spans unless asked for.
    expect(span?.attributes['shardcount.counter.name']).toBeUndefined();
    const metrics = await t.metricsByName();
    const failed = (metrics.get('shardcount.operation.duration') ?? []).filter(
      (p) => (p.attributes as Record<string, unknown>)['error.type'] === 'COUNTER_NOT_MUTABLE',
    );
    expect(failed).toHaveLength(1);
  });

  it('counts contention, retries, cache hits and misses as shardcount.core.* counters', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const store = new FaultInjectingEntityStore(new MemoryEntityStore());
    const service = new ShardedCounterService({
      store,
      cache: new MemoryCacheStore(),
      retry: { minTimeoutMs: 0, maxTimeoutMs: 1 },
    });
    await service.increment('hot');
    store.faults.contendNext(2);
    await service.increment('hot');
    await service.getCounter('hot'); // miss
    await service.getCounter('hot'); // hit
    await service.getCounter('hot'); // hit

    const [span] = spansNamed(t, 'shardcount.core.increment').slice(-1);
    expect(span?.attributes['shardcount.attempts']).toBe(3);
    const metrics = await t.metricsByName();
    const total = (name: string) =>
      (metrics.get(name) ?? []).reduce((sum, p) => sum + (p.value as number), 0);
    expect(total('shardcount.core.contention')).toBe(2);
    expect(total('shardcount.core.retry')).toBe(2);
    expect(total('shardcount.core.cache_miss')).toBe(1);
    expect(total('shardcount.core.cache_hit')).toBe(2);
  });

  it('traces getCounters and listCounters, and an aborted increment as an ABORTED error span', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const service = new ShardedCounterService({
      store: new MemoryEntityStore(),
      cache: new MemoryCacheStore(),
    });
    await service.increment('a', 1);
    await service.increment('b', 2);
    expect((await service.getCounters(['a', 'b', 'a'])).map((c) => c?.count)).toEqual([1, 2, 1]);
    expect((await service.listCounters({ limit: 1 })).counters.map((c) => c.name)).toEqual(['a']);
    const [batch] = spansNamed(t, 'shardcount.core.getCounters');
    expect(batch?.attributes).toMatchObject({
      'shardcount.counters': 2,
      'shardcount.cache.misses': 2,
    });
    // One cache mget for every name, one store lookup for the misses (then the cache fills).
    const batchChildren = childrenOf(t, batch!);
    expect(batchChildren.filter((name) => name === 'mget memory')).toHaveLength(1);
    expect(
      batchChildren.filter((name) => name.endsWith(' memory') && name.startsWith('lookup')),
    ).toEqual(['lookup memory']);
    const [list] = spansNamed(t, 'shardcount.core.listCounters');
    expect(childrenOf(t, list!)).toEqual(['query memory']);

    const controller = new AbortController();
    controller.abort();
    await expect(service.increment('a', 1, { signal: controller.signal })).rejects.toThrow(
      OperationAbortedError,
    );
    const aborted = spansNamed(t, 'shardcount.core.increment').at(-1);
    expect(aborted?.status.code).toBe(2);
    expect(aborted?.attributes['error.type']).toBe('ABORTED');
  });

  it("setOperationTracing('core', false) skips core spans (backend calls stay traced); true brings them back", async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const service = new ShardedCounterService({
      store: new MemoryEntityStore(),
      cache: new MemoryCacheStore(),
    });
    setOperationTracing('core', false);
    try {
      await service.increment('switch');
    } finally {
      setOperationTracing('core', true);
    }
    const names = t.spans.getFinishedSpans().map((span) => span.name);
    expect(names.filter((name) => name.startsWith('shardcount.core.'))).toEqual([]);
    expect(names).toContain('commit memory');
    await service.increment('switch');
    expect(spansNamed(t, 'shardcount.core.increment')).toHaveLength(1);
    expect(() => setOperationTracing('core', 'no' as unknown as boolean)).toThrow(
      expect.objectContaining({ context: { argument: 'enabled' } }),
    );
    expect(() => setOperationTracing('nope' as 'core', false)).toThrow(
      expect.objectContaining({ context: { argument: 'pkg' } }),
    );
  });

  it('publishes nothing once disabled', async () => {
    const t = telemetry();
    const handle = instrumentShardcount(t);
    handle.disable();
    const service = new ShardedCounterService({
      store: new MemoryEntityStore(),
      cache: new MemoryCacheStore(),
    });
    await service.increment('quiet');
    await service.getCounter('quiet');
    expect(t.spans.getFinishedSpans()).toHaveLength(0);
  });
});
