import diagnostics from 'node:diagnostics_channel';
import {
  EVENTS_CHANNEL,
  InvalidArgumentError,
  type ShardcountEventMessage,
  StoreUnavailableError,
} from '@shardcount/storage';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  PINGPONG_EVENT_NAMES,
  type PingPongCounter,
  type PingPongEventMap,
  slotKey,
} from '../src/index.js';
import { type Environment, INTERVAL_MS, memoryEnvironment } from './support/environment.js';
import { epochOf, inParallel } from './support/scenarios.js';

type Seen = { [E in keyof PingPongEventMap]: PingPongEventMap[E][] };

/** Records every event of `counter`, by name. */
function record(counter: PingPongCounter): Seen {
  const seen = Object.fromEntries(
    PINGPONG_EVENT_NAMES.map((name) => [name, []]),
  ) as unknown as Seen;
  for (const name of PINGPONG_EVENT_NAMES) {
    counter.on(name, (event: unknown) => (seen[name] as unknown[]).push(event));
  }
  return seen;
}

describe('PingPongCounter events', () => {
  let env: Environment;

  beforeEach(() => {
    env = memoryEnvironment();
  });

  afterEach(async () => {
    await env.close();
  });

  it('flushed carries each flush report; moved, movedDecrements, lost and idled name their counter', async () => {
    const counter = env.counter({ retentionMs: 4 * INTERVAL_MS });
    const lagging = env.counter({ now: () => env.clock.now() - INTERVAL_MS });
    const seen = record(counter);
    const epoch = epochOf(env.clock.now());
    await counter.increment('a', 5);
    await counter.increment('a', -2);
    await counter.increment('b', 1);
    env.clock.closeEpoch();
    const first = await counter.flush();
    expect(seen.flushed).toEqual([first]);
    expect(seen.moved).toEqual([
      { counterName: 'a', amount: 5 },
      { counterName: 'b', amount: 1 },
    ]);
    expect(seen.movedDecrements).toEqual([{ counterName: 'a', amount: 2 }]);

    // A drained, still open slot that memcache loses after 1 late increment: `lost`.
    await lagging.increment('a', 1);
    await env.cache.delete(slotKey(env.namespace, 'a', epoch, 'up'));
    const second = await counter.flush({ names: ['a'] });
    expect(seen.lost).toEqual([{ counterName: 'a', epochs: [epoch] }]);
    expect(second.lost).toEqual([{ name: 'a', epochs: [epoch] }]);

    for (let i = 0; i < 6; i++) {
      env.clock.advance(INTERVAL_MS);
      await counter.flush();
    }
    expect(seen.idled.map((e) => e.counterName).sort()).toEqual(['a', 'b']);
    expect(seen.flushed).toHaveLength(8);
    expect(seen.flushError).toEqual([]);
  });

  it('writtenThrough and dropped report increments taken while memcached is down', async () => {
    const through = env.counter();
    const dropping = env.counter({ onCacheUnavailable: 'drop' });
    const seenThrough = record(through);
    const seenDropped = record(dropping);
    env.cache.faults.failAlways({ operations: ['incr'] });
    expect(await through.increment('wt', 3)).toBe('written-through');
    expect(await dropping.increment('dr', -4)).toBe('dropped');
    expect(seenThrough.writtenThrough).toEqual([{ counterName: 'wt', delta: 3 }]);
    expect(seenDropped.dropped).toEqual([{ counterName: 'dr', delta: -4 }]);
    expect(seenThrough.dropped).toEqual([]);
  });

  it('flushError reports each failure of a flush, and registrationError each failed round', async () => {
    const counter = env.counter({ registrationDelayMs: 60_000 });
    const seen = record(counter);
    await counter.increment('x');
    await counter.increment('y');
    env.clock.closeEpoch();
    env.store.faults.failAlways();
    const report = await counter.flush();
    expect(seen.registrationError).toEqual([
      { names: 2, error: expect.any(StoreUnavailableError) },
    ]);
    expect(report.errors.length).toBeGreaterThan(0);
    expect(seen.flushError).toEqual(
      report.errors.map(({ name, error }) => ({ counterName: name, error })),
    );
    expect(seen.flushed).toEqual([report]);
    env.store.faults.heal();
    expect((await counter.flush()).moved).toBe(2);
  });

  it('a listener that throws on every event never breaks counting or flushing', async () => {
    const counter = env.counter({ registrationDelayMs: 1, onCacheUnavailable: 'write-through' });
    const calls = vi.fn(() => {
      throw new Error('listener failure');
    });
    for (const name of PINGPONG_EVENT_NAMES) counter.on(name, calls);
    const seen = record(counter); // registered after the throwing ones: still called
    env.cache.faults.failNext(5, { operations: ['incr'] });
    await inParallel(4, 10, (w) => counter.increment('t', w % 2 === 0 ? 2 : -1));
    env.clock.closeEpoch();
    env.store.faults.failNext(1, { operations: ['commit'] });
    const failed = await counter.flush({ names: ['t'] });
    expect(failed.errors).toHaveLength(1);
    const report = await counter.flush({ names: ['t'] });
    expect(report.errors).toEqual([]);
    expect(await counter.get('t')).toMatchObject({ durable: 20, pending: 0 });
    expect(calls.mock.calls.length).toBeGreaterThanOrEqual(5 + 1 + 2 + 2);
    expect(seen.writtenThrough).toHaveLength(5);
    expect(seen.flushed).toHaveLength(2);
    expect(seen.flushError).toHaveLength(1);
  });

  it('on() returns a function that unsubscribes, and refuses unknown events and non-functions', async () => {
    const counter = env.counter();
    const listener = vi.fn();
    const off = counter.on('flushed', listener);
    await counter.flush();
    off();
    await counter.flush();
    expect(listener).toHaveBeenCalledTimes(1);
    expect(() => counter.on('lostEpochs' as never, listener)).toThrow(InvalidArgumentError);
    expect(() => counter.on('moved', 'log' as never)).toThrow(InvalidArgumentError);
  });

  it('publishes every event on shardcount:events under the same name, with its count', async () => {
    const messages: ShardcountEventMessage[] = [];
    const listener = (message: unknown): void => {
      const event = message as ShardcountEventMessage;
      if (event.package === 'pingpong') messages.push(event);
    };
    diagnostics.subscribe(EVENTS_CHANNEL, listener);
    try {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      await counter.increment('m', 4);
      await counter.increment('m', -1);
      env.cache.faults.failNext(1, { operations: ['incr'] });
      await counter.increment('m', 2);
      env.clock.closeEpoch();
      env.store.faults.failNext(1, { operations: ['query'] });
      await counter.flush();
      await counter.flush();
    } finally {
      diagnostics.unsubscribe(EVENTS_CHANNEL, listener);
    }
    const summary = messages.map((m) => [m.event, m.subject, m.count]);
    expect(summary).toEqual([
      ['writtenThrough', 'm', 1],
      ['flushError', undefined, 1],
      ['flushed', undefined, 1],
      ['moved', 'm', 4],
      ['movedDecrements', 'm', 1],
      ['flushed', undefined, 1],
    ]);
  });
});
