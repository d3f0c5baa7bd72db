import { SpanKind } from '@opentelemetry/api';
import { PingPongCounter } from '@shardcount/pingpong';
import { type CacheStore, MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
import { realCacheStore } from '@shardcount/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { instrumentShardcount, type ShardcountInstrumentation } from '../src/index.js';
import { telemetry } from './helpers/telemetry.js';

// Cache calls on the real servers become client spans `<operation> <system>` under the
// operation that made them, with `db.system.name` and a `db.client.operation.duration` point.
const CACHES = [
  { system: 'memcached', create: (): CacheStore => realCacheStore() },
  { system: 'valkey', create: (): CacheStore => realCacheStore({ cache: 'valkey' }) },
  { system: 'memory', create: (): CacheStore => new MemoryCacheStore() },
] as const;

describe.each(CACHES)('cache calls on $system', ({ system, create }) => {
  let instrumentation: ShardcountInstrumentation | undefined;
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    instrumentation?.disable();
    instrumentation = undefined;
    for (const close of closing.splice(0)) await close();
  });

  it('a pingpong increment and get publish incr and mget client spans with metrics', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const cache = create();
    const counter = new PingPongCounter({
      cache,
      store: new MemoryEntityStore(),
      namespace: `otel-${system}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      intervalMs: 600_000,
      registrationDelayMs: 60_000,
    });
    closing.push(
      () => counter.close(),
      () => cache.close(),
    );

    await counter.increment('views', 2);
    expect(await counter.get('views')).toMatchObject({ pending: 2 });

    const spans = t.spans.getFinishedSpans();
    const increment = spans.find((span) => span.name === 'shardcount.pingpong.increment');
    const get = spans.find((span) => span.name === 'shardcount.pingpong.get');
    expect(increment).toBeDefined();
    expect(get).toBeDefined();
    const incr = spans.find((span) => span.name === `incr ${system}`);
    expect(incr).toBeDefined();
    expect(incr!.kind).toBe(SpanKind.CLIENT);
    expect(incr!.attributes).toMatchObject({
      'db.system.name': system,
      'db.operation.name': 'incr',
    });
    // The cache call is a child of the operation that made it.
    expect(incr!.parentSpanContext?.spanId).toBe(increment!.spanContext().spanId);
    const mget = spans.find((span) => span.name === `mget ${system}`);
    expect(mget).toBeDefined();
    expect(mget!.attributes).toMatchObject({
      'db.system.name': system,
      'db.operation.name': 'mget',
    });
    expect(mget!.attributes['db.operation.batch.size']).toBeGreaterThan(0);
    expect(mget!.parentSpanContext?.spanId).toBe(get!.spanContext().spanId);

    const metrics = await t.metricsByName();
    const durations = metrics.get('db.client.operation.duration') ?? [];
    const ofSystem = durations.filter(
      (point) => (point.attributes as Record<string, unknown>)['db.system.name'] === system,
    );
    const operations = ofSystem.map(
      (point) => (point.attributes as Record<string, unknown>)['db.operation.name'],
    );
    expect(operations).toEqual(expect.arrayContaining(['incr', 'mget']));
  });

  it('direct cache calls: set, gets, cas, get, delete, each one span; an abandoned call records error.type', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const cache = create();
    closing.push(() => cache.close());
    const key = `otel:${Math.random().toString(36).slice(2)}`;
    await cache.set(key, { n: 1 });
    const entry = await cache.gets(key);
    await cache.cas(key, { n: 2 }, entry!.cas);
    expect(await cache.get(key)).toEqual({ n: 2 });
    await cache.delete(key);
    // A failed call: abandoned in flight on a network cache; on memory (calls complete as
    // they are made), a counter over a value that is not a number.
    if (system === 'memory') {
      await cache.set(`${key}:n`, 'text');
      await expect(cache.incr(`${key}:n`, 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } else {
      const controller = new AbortController();
      const abandoned = cache.incr(`${key}:n`, 1, { initial: 0, signal: controller.signal });
      controller.abort(new Error('gave up'));
      await expect(abandoned).rejects.toMatchObject({ code: 'AMBIGUOUS_COMMIT' });
    }
    const names = t.spans
      .getFinishedSpans()
      .filter((span) => span.attributes['db.system.name'] === system)
      .map((span) => span.name);
    expect(names).toEqual([
      `set ${system}`,
      `gets ${system}`,
      `cas ${system}`,
      `get ${system}`,
      `delete ${system}`,
      ...(system === 'memory' ? [`set ${system}`] : []),
      `incr ${system}`,
    ]);
    const failed = t.spans.getFinishedSpans().at(-1)!;
    expect(failed.attributes['error.type']).toBe(
      system === 'memory' ? 'INVALID_ARGUMENT' : 'AMBIGUOUS_COMMIT',
    );
  });
});
