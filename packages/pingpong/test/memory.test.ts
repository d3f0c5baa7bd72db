import diagnostics from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS_CHANNEL, type ShardcountEventMessage } from '@shardcount/storage';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newCounterEntity } from '../src/counter-entity.js';
import { type DrainInput, drainInto } from '../src/drain.js';
import { EpochSchedule } from '../src/epoch-schedule.js';
import { CounterClosedError, type FlushReport, slotKey } from '../src/index.js';
import { durabilityScenarios } from './support/durability-scenarios.js';
import { type Environment, INTERVAL_MS, memoryEnvironment } from './support/environment.js';
import { batchReadScenarios, listingScenarios } from './support/read-scenarios.js';
import { epochOf, inParallel, pingPongScenarios } from './support/scenarios.js';
import { signalScenarios } from './support/signal-scenarios.js';

pingPongScenarios('MemoryCacheStore + MemoryEntityStore', async () => memoryEnvironment());
durabilityScenarios('MemoryCacheStore + MemoryEntityStore', async () => memoryEnvironment());
batchReadScenarios('MemoryCacheStore + MemoryEntityStore', async () => memoryEnvironment());
listingScenarios('MemoryCacheStore + MemoryEntityStore', async () => memoryEnvironment());
signalScenarios('MemoryCacheStore + MemoryEntityStore', async () => memoryEnvironment());

describe('PingPongCounter on the embedded adapters only', () => {
  let env: Environment;

  beforeEach(() => {
    env = memoryEnvironment();
  });

  afterEach(async () => {
    await env.close();
  });

  it('increments with one cache call and no store call', async () => {
    const counter = env.counter({ registrationDelayMs: 60_000 });
    for (let i = 0; i < 10; i++) await counter.increment('hot');
    expect(env.cache.calls).toMatchObject({ incr: 10, add: 0, set: 0, get: 0, getMany: 0 });
    expect(Object.values(env.store.calls).every((n) => n === 0)).toBe(true);
  });

  it('creates slots with a TTL covering the retention after their epoch, plus memcached margin', async () => {
    const counter = env.counter({ retentionMs: 3_600_000 });
    // 3,600 s of retention + 1.5 intervals (a clock half an interval fast creates the slot
    // 1.5 intervals before the epoch ends) + 1 s for memcached's whole-second clock.
    expect(counter.slotTtlSeconds).toBe(3_600 + 90 + 1);
    expect(env.counter().slotTtlSeconds).toBe(86_400 + 90 + 1);
    await counter.increment('ttl');
    const key = slotKey(env.namespace, 'ttl', epochOf(env.clock.now()), 'up');
    env.clock.advance(3_600_000 + INTERVAL_MS);
    expect(await env.cache.get(key)).toBe(1);
    env.clock.advance(91_000);
    expect(await env.cache.get(key)).toBeUndefined();
  });

  it('runs the flusher in-process, never two runs at once, until stopped', async () => {
    const counter = env.counter();
    await inParallel(4, 10, () => counter.increment('timer'));
    env.clock.closeEpoch();
    env.store.faults.delay(15, { operations: ['commit', 'query'] });
    let running = 0;
    let maxRunning = 0;
    const original = counter.flush.bind(counter);
    vi.spyOn(counter, 'flush').mockImplementation(async (options) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        return await original(options);
      } finally {
        running--;
      }
    });
    const reports: FlushReport[] = [];
    counter.startFlusher({ everyMs: 1, onReport: (report) => reports.push(report) });
    await vi.waitFor(() => expect(reports.length).toBeGreaterThanOrEqual(4), { timeout: 5_000 });
    await counter.stopFlusher();
    const after = reports.length;
    await sleep(50);
    expect(reports.length).toBe(after);
    expect(maxRunning).toBe(1);
    expect(reports.reduce((sum, r) => sum + r.moved, 0)).toBe(40);
    expect((await counter.get('timer')).durable).toBe(40);
  });

  it('close() stops the flusher, writes pending registrations and rejects later calls', async () => {
    const counter = env.counter({ registrationDelayMs: 60_000 });
    await counter.increment('closing', 3);
    counter.startFlusher({ everyMs: 60_000 });
    await counter.close();
    expect(counter.stats().registrations).toBe(1);
    await expect(counter.increment('closing')).rejects.toBeInstanceOf(CounterClosedError);
    await expect(counter.flush()).rejects.toBeInstanceOf(CounterClosedError);
    await expect(counter.get('closing')).rejects.toBeInstanceOf(CounterClosedError);
    env.clock.closeEpoch();
    const stranger = env.counter();
    expect((await stranger.flush()).moved).toBe(3);
  });

  it('retries a failed registration in the background', async () => {
    const counter = env.counter({ registrationDelayMs: 1 });
    env.store.faults.failNext(1, { operations: ['lookup'] });
    await counter.increment('retry-registration');
    await vi.waitFor(() => expect(counter.stats().registrationFailures).toBe(1), { interval: 2 });
    await vi.waitFor(() => expect(counter.stats().registrations).toBe(1), {
      timeout: 5_000,
      interval: 10,
    });
    env.clock.closeEpoch();
    expect((await env.counter().flush()).moved).toBe(1);
  });

  it('publishes moved, lost and idle counts on the shardcount:events diagnostics channel', async () => {
    const seen: ShardcountEventMessage[] = [];
    const listener = (message: unknown): void => {
      const event = message as ShardcountEventMessage;
      if (event.package === 'pingpong') seen.push(event);
    };
    diagnostics.subscribe(EVENTS_CHANNEL, listener);
    try {
      const counter = env.counter({ retentionMs: 4 * INTERVAL_MS });
      const lagging = env.counter({ now: () => env.clock.now() - INTERVAL_MS });
      const epoch = epochOf(env.clock.now());
      await counter.increment('events', 5);
      await counter.increment('events', -2);
      env.clock.closeEpoch();
      await counter.flush({ names: ['events'] });
      await lagging.increment('events', 1);
      await env.cache.delete(slotKey(env.namespace, 'events', epoch, 'up'));
      await counter.flush({ names: ['events'] });
      for (let i = 0; i < 6; i++) {
        env.clock.advance(INTERVAL_MS);
        await counter.flush({ names: ['events'] });
      }
    } finally {
      diagnostics.unsubscribe(EVENTS_CHANNEL, listener);
    }
    const byName = (event: string) => seen.filter((e) => e.event === event);
    expect(byName('moved')).toEqual([
      { package: 'pingpong', event: 'moved', subject: 'events', count: 5 },
    ]);
    expect(byName('movedDecrements').map((e) => e.count)).toEqual([2]);
    expect(byName('lost')).toEqual([
      { package: 'pingpong', event: 'lost', subject: 'events', count: 1 },
    ]);
    expect(byName('idled').map((e) => e.subject)).toEqual(['events']);
    expect(byName('flushed')).toHaveLength(8);
  });

  it('write-through rejects with the store error when both backends are down', async () => {
    const counter = env.counter();
    env.cache.faults.failAlways();
    env.store.faults.failAlways();
    await expect(counter.increment('both-down')).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
  });
});

describe('drainInto', () => {
  const at = new Date(0);
  const base = newCounterEntity('ns', 'c', 10, at);
  const input = (
    observed: Array<[number, { up: number; down: number }]>,
    extra: Partial<DrainInput> = {},
  ): DrainInput => ({
    read: { first: 10, last: 12 },
    observed: new Map(observed),
    lastClosable: 9,
    snapshotRevision: undefined,
    nowMs: 0,
    retentionMs: 86_400_000,
    ...extra,
  });

  it('moves only what is above the watermark and raises it', () => {
    const first = drainInto(base, input([[10, { up: 5, down: 2 }]]), at);
    expect(first).toMatchObject({ movedUp: 5, movedDown: 2, changed: true });
    expect(first.entity).toMatchObject({
      count: 3,
      drained: [{ epoch: 10, up: 5, down: 2 }],
      revision: 1,
    });
    const again = drainInto(first.entity, input([[10, { up: 5, down: 2 }]]), at);
    expect(again).toMatchObject({ movedUp: 0, movedDown: 0, changed: false });
    const grown = drainInto(first.entity, input([[10, { up: 9, down: 1 }]]), at);
    expect(grown).toMatchObject({ movedUp: 4, movedDown: 0, lostEpochs: [] });
    expect(grown.entity.count).toBe(7);
  });

  it('never moves a closed epoch, whatever its slot holds', () => {
    const drained = drainInto(base, input([[10, { up: 5, down: 0 }]], { lastClosable: 10 }), at);
    expect(drained.entity).toMatchObject({ count: 5, closedBefore: 11, drained: [] });
    // A slow flush that read 8 before the epoch closed: its transaction sees the floor.
    const slow = drainInto(drained.entity, input([[10, { up: 8, down: 0 }]]), at);
    expect(slow).toMatchObject({ movedUp: 0, changed: false });
    expect(slow.entity.count).toBe(5);
  });

  it('closes only when it read every open epoch', () => {
    const reopened = { ...base, scanFrom: 8 };
    const partial = drainInto(
      reopened,
      input([[10, { up: 1, down: 0 }]], { lastClosable: 11 }),
      at,
    );
    expect(partial.entity).toMatchObject({ count: 1, closedBefore: 0 });
  });

  it('reports a slot below its watermark as lost only when nothing was written since the snapshot', () => {
    const drained = drainInto(base, input([[10, { up: 5, down: 0 }]]), at).entity;
    const stale = drainInto(drained, input([[10, { up: 2, down: 0 }]]), at);
    expect(stale).toMatchObject({ movedUp: 0, lostEpochs: [], changed: false });
    const fresh = drainInto(
      drained,
      input([[10, { up: 2, down: 0 }]], { snapshotRevision: drained.revision }),
      at,
    );
    expect(fresh).toMatchObject({ movedUp: 2, lostEpochs: [10] });
    expect(fresh.entity.drained).toEqual([{ epoch: 10, up: 2, down: 0 }]);
  });

  it('marks a quiet counter idle once nothing was registered for the retention', () => {
    const quiet = { ...base, touchedAt: 0 };
    const early = drainInto(quiet, input([], { nowMs: 1000, retentionMs: 5000 }), at);
    expect(early.becameIdle).toBe(false);
    const late = drainInto(quiet, input([], { nowMs: 5000, retentionMs: 5000 }), at);
    expect(late).toMatchObject({ becameIdle: true, changed: true });
    // A backlog read in parts (epochs up to 20 are drainable, 10..12 were read): not yet.
    const partial = drainInto(
      quiet,
      input([], { nowMs: 5000, retentionMs: 5000, lastClosable: 19 }),
      at,
    );
    expect(partial.becameIdle).toBe(false);
    expect(partial.entity.closedBefore).toBe(13);
    expect(late.entity).toMatchObject({ idle: true, scanFrom: late.entity.closedBefore });
  });

  it('refuses to pass the safe integer range', () => {
    const big = { ...base, count: Number.MAX_SAFE_INTEGER };
    expect(() => drainInto(big, input([[10, { up: 1, down: 0 }]]), at)).toThrow(
      expect.objectContaining({ code: 'OUT_OF_RANGE' }),
    );
  });
});

describe('EpochSchedule', () => {
  it('drains settled epochs and closes them one interval later', () => {
    const schedule = new EpochSchedule(INTERVAL_MS, 10_000);
    const t = 100 * INTERVAL_MS;
    expect(schedule.epochAt(t + 5_000)).toBe(100);
    expect(schedule.lastDrainable(t + 5_000)).toBe(98); // 99 still settling
    expect(schedule.lastDrainable(t + 10_000)).toBe(99);
    expect(schedule.lastClosable(t + 10_000)).toBe(98);
    expect(schedule.lastWritable(t)).toBe(101);
  });
});
