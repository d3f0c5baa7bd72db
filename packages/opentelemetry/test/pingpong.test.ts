import { PingPongCounter, slotKey } from '@shardcount/pingpong';
import { MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { instrumentShardcount, type ShardcountInstrumentation } from '../src/index.js';
import { telemetry } from './helpers/telemetry.js';

type Telemetry = ReturnType<typeof telemetry>;

const INTERVAL_MS = 60_000;

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

/**
 * The backend operations (`lookup`, `commit`...) among span names `<operation> <system>`: the
 * fault-injecting wrapper reports its own system (`other`), so only the operation is checked.
 */
function operationsOf(names: readonly string[]): string[] {
  return names.map((name) => name.split(' ')[0]!);
}

async function counterTotals(t: Telemetry): Promise<(name: string) => number> {
  const metrics = await t.metricsByName();
  return (name) => (metrics.get(name) ?? []).reduce((sum, p) => sum + (p.value as number), 0);
}

/**
 * A counter on the embedded adapters (wrapped, so faults can be armed) and a fake clock that
 * starts one second into an epoch.
 */
function setUp(options: { onCacheUnavailable?: 'write-through' | 'drop' } = {}) {
  const clock = { ms: Math.floor(Date.UTC(2031, 0, 1) / INTERVAL_MS) * INTERVAL_MS + 1000 };
  const now = () => clock.ms;
  const cache = new FaultInjectingCacheStore(new MemoryCacheStore({ now }));
  const store = new FaultInjectingEntityStore(new MemoryEntityStore());
  const counter = new PingPongCounter({
    cache,
    store,
    now,
    intervalMs: INTERVAL_MS,
    registrationDelayMs: 60_000,
    ...options,
  });
  /** Past the end of the current epoch and its settle time (10 s), but not past its closing. */
  const settle = () => {
    clock.ms = (Math.floor(clock.ms / INTERVAL_MS) + 1) * INTERVAL_MS + 15_000;
  };
  return { clock, cache, store, counter, settle };
}

describe('PingPongCounter through instrumentShardcount', () => {
  let instrumentation: ShardcountInstrumentation | undefined;
  const counters: PingPongCounter[] = [];
  afterEach(async () => {
    instrumentation?.disable();
    instrumentation = undefined;
    for (const counter of counters.splice(0)) await counter.close();
  });

  it('traces increment, get, flush, reset and delete, with store calls as children', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount({ ...t, recordCounterNames: true });
    const { counter, settle, clock } = setUp();
    counters.push(counter);
    const epoch = Math.floor(clock.ms / INTERVAL_MS);
    await counter.increment('views', 3);
    await counter.increment('views', 2);
    await counter.increment('views', 0);
    expect(await counter.get('views')).toMatchObject({ durable: 0, pending: 5 });
    settle();
    const report = await counter.flush();
    expect(report).toMatchObject({ counters: 1, flushed: 1, moved: 5 });
    await counter.reset('views');
    await counter.delete('views');

    const increments = spansNamed(t, 'shardcount.pingpong.increment');
    expect(increments).toHaveLength(3);
    expect(increments[0]?.attributes).toMatchObject({
      'shardcount.package': 'pingpong',
      'shardcount.operation': 'increment',
      'shardcount.counter.name': 'views',
      'shardcount.epoch': epoch,
      'shardcount.outcome': 'cached',
    });
    expect(increments[2]?.attributes['shardcount.outcome']).toBe('noop');
    // An increment touches memcache only: one cache incr under it, no store call.
    expect(childrenOf(t, increments[0]!)).toEqual(['incr memory']);

    const [get] = spansNamed(t, 'shardcount.pingpong.get');
    expect(get?.attributes['shardcount.pending_known']).toBe(true);
    expect(operationsOf(childrenOf(t, get!))).toContain('lookup');

    const [flush] = spansNamed(t, 'shardcount.pingpong.flush');
    expect(flush?.attributes).toMatchObject({
      'shardcount.counters': 1,
      'shardcount.flushed': 1,
      'shardcount.moved': 5,
      'shardcount.lost_epochs': 0,
      'shardcount.errors': 0,
    });
    // A flush has no single counter: no name on its span even when names are recorded.
    expect(flush?.attributes['shardcount.counter.name']).toBeUndefined();
    const flushChildren = operationsOf(childrenOf(t, flush!));
    expect(flushChildren).toContain('query'); // the registry
    expect(flushChildren).toContain('commit'); // the drain transaction

    for (const operation of ['reset', 'delete']) {
      const [span] = spansNamed(t, `shardcount.pingpong.${operation}`);
      expect(span, operation).toBeDefined();
      expect(span?.attributes['shardcount.counter.name'], operation).toBe('views');
      expect(operationsOf(childrenOf(t, span!)), operation).toContain('commit');
    }

    const metrics = await t.metricsByName();
    const durations = metrics.get('shardcount.operation.duration') ?? [];
    const operations = new Set(
      durations.map((p) => (p.attributes as Record<string, unknown>)['shardcount.operation']),
    );
    expect([...operations].sort()).toEqual(['delete', 'flush', 'get', 'increment', 'reset']);
    const total = await counterTotals(t);
    expect(total('shardcount.pingpong.moved')).toBe(5);
  });

  it('counts moved, lost epochs and flush errors as shardcount.pingpong.* counters', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const { counter, settle, clock, cache, store } = setUp();
    counters.push(counter);
    const epoch = Math.floor(clock.ms / INTERVAL_MS);
    await counter.increment('lost', 2);
    await counter.increment('lost', -1);
    settle();
    expect(await counter.flush({ names: ['lost'] })).toMatchObject({ moved: 1 });
    // memcache loses the drained slot before the epoch closes: the next flush reports it.
    await cache.delete(slotKey(counter.namespace, 'lost', epoch, 'up'));
    const second = await counter.flush({ names: ['lost'] });
    expect(second.lost).toEqual([{ name: 'lost', epochs: [epoch] }]);
    const [, secondSpan] = spansNamed(t, 'shardcount.pingpong.flush');
    expect(secondSpan?.attributes['shardcount.lost_epochs']).toBe(1);

    // The store is down for one flush: its failure is a counted flush error, not a rejection.
    await counter.increment('down', 4);
    clock.ms += INTERVAL_MS;
    store.faults.failAlways();
    const failed = await counter.flush({ names: ['down'] });
    expect(failed.errors).toHaveLength(1);
    const [, , failedSpan] = spansNamed(t, 'shardcount.pingpong.flush');
    expect(failedSpan?.attributes['shardcount.errors']).toBe(1);
    expect(failedSpan?.status.code).toBe(0); // the flush itself resolved
    store.faults.heal();
    expect(await counter.flush({ names: ['down'] })).toMatchObject({ moved: 4 });

    const total = await counterTotals(t);
    expect(total('shardcount.pingpong.moved')).toBe(2 + 4);
    expect(total('shardcount.pingpong.moved_decrements')).toBe(1);
    expect(total('shardcount.pingpong.lost')).toBe(1);
    expect(total('shardcount.pingpong.flush_error')).toBe(1);
    expect(total('shardcount.pingpong.flushed')).toBe(4);
  });

  it('traces getMany and listCounters, and an aborted call as an error span with error.type', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const { counter, settle } = setUp();
    counters.push(counter);
    await counter.increment('a', 1);
    await counter.increment('b', 2);
    await counter.flush({ names: [] }); // registers both
    expect((await counter.getMany(['a', 'b', 'a'])).map((v) => v.total)).toEqual([1, 2, 1]);
    expect((await counter.listCounters({ limit: 1 })).counters).toHaveLength(1);

    const [getMany] = spansNamed(t, 'shardcount.pingpong.getMany');
    expect(getMany?.attributes).toMatchObject({
      'shardcount.items': 3,
      'shardcount.pending_known': true,
    });
    // One store lookup and one cache mget for all the names.
    expect(operationsOf(childrenOf(t, getMany!)).sort()).toEqual(['lookup', 'mget']);
    const [list] = spansNamed(t, 'shardcount.pingpong.listCounters');
    expect(list?.attributes['shardcount.items']).toBe(1);
    expect(operationsOf(childrenOf(t, list!))).toEqual(['query']);

    await expect(counter.get('a', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    const [aborted] = spansNamed(t, 'shardcount.pingpong.get');
    expect(aborted?.status.code).toBe(2);
    expect(aborted?.attributes['error.type']).toBe('ABORTED');

    settle();
    const report = await counter.flush({ signal: AbortSignal.abort() });
    expect(report.aborted).toBeDefined();
    const flushes = spansNamed(t, 'shardcount.pingpong.flush');
    expect(flushes.at(-1)?.attributes['shardcount.aborted']).toBe(true);
    const total = await counterTotals(t);
    expect(total('shardcount.pingpong.flushed')).toBe(2);
  });

  it('records what an increment did while memcached was down, per policy', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const through = setUp();
    const dropping = setUp({ onCacheUnavailable: 'drop' });
    counters.push(through.counter, dropping.counter);
    through.cache.faults.failAlways();
    dropping.cache.faults.failAlways();
    expect(await through.counter.increment('x', 3)).toBe('written-through');
    expect(await dropping.counter.increment('x', 3)).toBe('dropped');

    const [writtenThrough, dropped] = spansNamed(t, 'shardcount.pingpong.increment');
    expect(writtenThrough?.attributes['shardcount.outcome']).toBe('written-through');
    // The write-through is a store transaction under the increment's span.
    expect(operationsOf(childrenOf(t, writtenThrough!))).toContain('commit');
    expect(dropped?.attributes['shardcount.outcome']).toBe('dropped');
    expect(childrenOf(t, dropped!)).toEqual([]);

    const total = await counterTotals(t);
    expect(total('shardcount.pingpong.written_through')).toBe(1);
    expect(total('shardcount.pingpong.dropped')).toBe(1);
  });

  it('a refused call is an error span with error.type', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    const { counter } = setUp();
    counters.push(counter);
    await expect(counter.increment('', 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const [span] = spansNamed(t, 'shardcount.pingpong.increment');
    expect(span?.status.code).toBe(2); // SpanStatusCode.ERROR
    expect(span?.attributes['error.type']).toBe('INVALID_ARGUMENT');
  });

  it('publishes nothing once disabled', async () => {
    const t = telemetry();
    instrumentShardcount(t).disable();
    const { counter, settle } = setUp();
    counters.push(counter);
    await counter.increment('quiet');
    settle();
    await counter.flush();
    expect(t.spans.getFinishedSpans()).toHaveLength(0);
  });
});
