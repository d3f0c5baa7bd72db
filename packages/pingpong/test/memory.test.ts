import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { drainInto, newCounterEntity } from '../src/counter-entity.js';
import { EpochSchedule } from '../src/epoch-schedule.js';
import { CounterClosedError, type FlushReport, slotKey } from '../src/index.js';
import { type Environment, INTERVAL_MS, memoryEnvironment } from './support/environment.js';
import { epochOf, inParallel, pingPongScenarios } from './support/scenarios.js';

pingPongScenarios('MemoryCacheStore + MemoryEntityStore', async () => memoryEnvironment());

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

  it('lets slots expire: memcache holds a bounded number of slots per counter', async () => {
    const counter = env.counter({ slotTtlIntervals: 2 });
    const firstEpoch = epochOf(env.clock.now());
    for (let i = 0; i < 6; i++) {
      await counter.increment('ttl');
      env.clock.closeEpoch();
      await counter.flush();
    }
    const live = [];
    for (let e = firstEpoch; e <= epochOf(env.clock.now()); e++) {
      if ((await env.cache.get(slotKey(env.namespace, 'ttl', e, 'up'))) !== undefined) live.push(e);
    }
    // TTL 120 s on the fake clock: only the last two epochs' slots remain.
    expect(live.length).toBeLessThanOrEqual(2);
    expect((await counter.get('ttl')).durable).toBe(6);
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
  const base = newCounterEntity('ns', 'c', at);

  it('moves only what is above the watermark and raises it', () => {
    const first = drainInto(base, new Map([[10, { up: 5, down: 2 }]]), 0, at);
    expect(first).toMatchObject({ movedUp: 5, movedDown: 2, changed: true });
    expect(first.entity).toMatchObject({ count: 3, drained: [{ epoch: 10, up: 5, down: 2 }] });
    const again = drainInto(first.entity, new Map([[10, { up: 5, down: 2 }]]), 0, at);
    expect(again).toMatchObject({ movedUp: 0, movedDown: 0, changed: false });
    const grown = drainInto(first.entity, new Map([[10, { up: 9, down: 1 }]]), 0, at);
    expect(grown).toMatchObject({ movedUp: 4, movedDown: 0 });
    expect(grown.entity.count).toBe(7);
  });

  it('prunes watermarks of expired epochs only', () => {
    const entity = {
      ...base,
      drained: [
        { epoch: 1, up: 1, down: 0 },
        { epoch: 5, up: 1, down: 0 },
      ],
    };
    const result = drainInto(entity, new Map(), 3, at);
    expect(result.changed).toBe(true);
    expect(result.entity.drained).toEqual([{ epoch: 5, up: 1, down: 0 }]);
  });

  it('refuses to pass the safe integer range', () => {
    const big = { ...base, count: Number.MAX_SAFE_INTEGER };
    expect(() => drainInto(big, new Map([[1, { up: 1, down: 0 }]]), 0, at)).toThrow(
      expect.objectContaining({ code: 'OUT_OF_RANGE' }),
    );
  });
});

describe('EpochSchedule', () => {
  it('drains only settled epochs and keeps watermarks until a slot has surely expired', () => {
    const schedule = new EpochSchedule(INTERVAL_MS, 180, 10_000);
    const t = 100 * INTERVAL_MS;
    expect(schedule.epochAt(t + 5_000)).toBe(100);
    expect(schedule.drainableEpochs(t + 5_000).last).toBe(98); // 99 still settling
    expect(schedule.drainableEpochs(t + 10_000).last).toBe(99);
    // Slot 95 is created by t=96*I at the latest and lives 181 s: gone by 99*I + 1 s; plus
    // one interval of clock-skew margin, its watermark may go at 100*I + 1 s.
    expect(schedule.firstLiveEpoch(t + 999)).toBe(95);
    expect(schedule.firstLiveEpoch(t + 1_000)).toBe(96);
    expect(schedule.liveEpochs(t).last).toBe(101);
  });
});
