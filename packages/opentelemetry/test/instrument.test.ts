import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  ContentionError,
  operationChannel,
  publishEvent,
  traceBackendCall,
  traceOperation,
} from '@shardcount/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { instrumentShardcount, type ShardcountInstrumentation } from '../src/index.js';
import { telemetry } from './helpers/telemetry.js';

/** An operation as a package publishes it, with one backend call inside. */
function increment(name: string, fail?: Error): Promise<string> {
  return traceOperation(
    operationChannel('local-cache', 'get'),
    () => ({ package: 'local-cache', operation: 'get', subject: name, attributes: {} }),
    async (message) => {
      await traceBackendCall('gcp.datastore', 'commit', 2, async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
      });
      if (message !== undefined) message.attributes['shardcount.shard'] = 3;
      if (fail !== undefined) throw fail;
      return 'ok';
    },
  );
}

describe('instrumentShardcount', () => {
  let instrumentation: ShardcountInstrumentation | undefined;
  afterEach(() => {
    instrumentation?.disable();
    instrumentation = undefined;
  });

  it('makes an operation span with its attributes and a client span per backend call under it', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    expect(await increment('likes')).toBe('ok');
    const finished = t.spans.getFinishedSpans();
    const op = finished.find((s) => s.name === 'shardcount.local-cache.get');
    const call = finished.find((s) => s.name === 'commit gcp.datastore');
    expect(op?.kind).toBe(SpanKind.INTERNAL);
    expect(op?.attributes).toMatchObject({
      'shardcount.package': 'local-cache',
      'shardcount.operation': 'get',
      'shardcount.shard': 3,
    });
    expect(op?.attributes['shardcount.counter.name'], 'names are opt-in').toBeUndefined();
    expect(call?.kind).toBe(SpanKind.CLIENT);
    expect(call?.attributes).toMatchObject({
      'db.system.name': 'gcp.datastore',
      'db.operation.name': 'commit',
      'db.operation.batch.size': 2,
    });
    expect(call?.parentSpanContext?.spanId, 'backend span is a child of the operation').toBe(
      op?.spanContext().spanId,
    );
  });

  it('records failures with status, exception and error.type, and durations in both histograms', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount({ ...t, recordCounterNames: true });
    await expect(increment('likes', new ContentionError('lost'))).rejects.toThrow('lost');
    const op = t.spans.getFinishedSpans().find((s) => s.name === 'shardcount.local-cache.get');
    expect(op?.status.code).toBe(SpanStatusCode.ERROR);
    expect(op?.attributes['error.type']).toBe('CONTENTION');
    expect(op?.attributes['shardcount.counter.name']).toBe('likes');
    expect(op?.events.some((e) => e.name === 'exception')).toBe(true);

    const metrics = await t.metricsByName();
    const duration = metrics.get('shardcount.operation.duration');
    expect(duration?.[0]?.attributes).toEqual({
      'shardcount.package': 'local-cache',
      'shardcount.operation': 'get',
      'error.type': 'CONTENTION',
    });
    const backend = metrics.get('db.client.operation.duration');
    expect(backend?.[0]?.attributes).toEqual({
      'db.system.name': 'gcp.datastore',
      'db.operation.name': 'commit',
    });
    expect(backend?.[0]?.value).toMatchObject({ count: 1 });
  });

  it('turns published events into counters, names only when asked', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    publishEvent('core', 'contention', 'likes');
    publishEvent('core', 'contention', 'likes');
    publishEvent('pingpong', 'moved', 'views', 40);
    publishEvent('local-cache', 'staleServed', 'user:1');
    const metrics = await t.metricsByName();
    expect(metrics.get('shardcount.core.contention')).toEqual([{ attributes: {}, value: 2 }]);
    expect(metrics.get('shardcount.pingpong.moved')).toEqual([{ attributes: {}, value: 40 }]);
    expect(metrics.get('shardcount.local_cache.stale_served')).toEqual([
      { attributes: {}, value: 1 },
    ]);
  });

  it('disable() stops all telemetry and the packages stop publishing', async () => {
    const t = telemetry();
    instrumentation = instrumentShardcount(t);
    instrumentation.disable();
    instrumentation.disable();
    await increment('likes');
    publishEvent('core', 'contention', 'likes');
    expect(t.spans.getFinishedSpans()).toEqual([]);
    expect(operationChannel('local-cache', 'get').hasSubscribers).toBe(false);
    expect((await t.metricsByName()).size).toBe(0);
  });

  it('refuses options that are not an object', () => {
    expect(() => instrumentShardcount(42 as never)).toThrow(/options must be an object/);
  });
});
