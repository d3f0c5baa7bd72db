import type { CacheStore } from '@shardcount/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Environment, INTERVAL_MS } from './environment.js';
import { inParallel } from './scenarios.js';

/**
 * A cache whose `getMany` waits, before it reads, until the test lets it go: a batch read
 * held between its entity lookup and its slot read.
 */
function heldCache(inner: CacheStore): {
  cache: CacheStore;
  reached: Promise<void>;
  release(): void;
} {
  let reached!: () => void;
  let release!: () => void;
  const reachedPromise = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const cache = new Proxy(inner, {
    get(target, property) {
      if (property === 'getMany') {
        return async (keys: readonly string[]) => {
          reached();
          await released;
          return target.getMany(keys);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { cache, reached: reachedPromise, release };
}

/** `getMany` scenarios, run against any pair of backends. */
export function batchReadScenarios(
  label: string,
  makeEnvironment: () => Promise<Environment>,
): void {
  describe(`PingPongCounter.getMany (${label})`, () => {
    let env: Environment;

    beforeEach(async () => {
      env = await makeEnvironment();
    });

    afterEach(async () => {
      await env.close();
    });

    const fresh = (prefix: string): string =>
      `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

    it('answers in input order what get() answers for each name, with one lookup and one multi-get', async () => {
      const counter = env.counter();
      const [flushed, mixed, negative, deleted, unknown] = [
        fresh('flushed'),
        fresh('mixed'),
        fresh('negative'),
        fresh('deleted'),
        fresh('unknown'),
      ] as const;
      await counter.increment(flushed, 7);
      await counter.increment(mixed, 3);
      await counter.increment(deleted, 9);
      env.clock.closeEpoch();
      await counter.flush();
      await counter.increment(mixed, 4);
      await counter.increment(negative, -5);
      await counter.delete(deleted);
      const names = [mixed, unknown, flushed, negative, deleted, mixed];

      env.cache.resetCalls();
      env.store.resetCalls();
      const values = await counter.getMany(names);
      expect(env.cache.calls.getMany).toBe(1);
      expect(env.store.calls).toMatchObject({ lookup: 1, query: 0, commit: 0 });
      expect(values).toEqual([
        { durable: 3, pending: 4, total: 7, pendingKnown: true },
        { durable: 0, pending: 0, total: 0, pendingKnown: true },
        { durable: 7, pending: 0, total: 7, pendingKnown: true },
        { durable: 0, pending: -5, total: -5, pendingKnown: true },
        { durable: 0, pending: 0, total: 0, pendingKnown: true },
        { durable: 3, pending: 4, total: 7, pendingKnown: true },
      ]);
      for (const [i, name] of names.entries()) expect(await counter.get(name)).toEqual(values[i]);
      env.cache.resetCalls();
      env.store.resetCalls();
      expect(await counter.getMany([])).toEqual([]);
      expect(env.cache.calls.getMany + env.store.calls.lookup).toBe(0);
    });

    it('reads 300 counters with one multi-get and one batched lookup', async () => {
      const counter = env.counter();
      const names = Array.from({ length: 300 }, (_, i) => fresh(`many-${i}`));
      await inParallel(10, 30, (w, i) => counter.increment(names[w * 30 + i]!, w + 1));
      env.cache.resetCalls();
      env.store.resetCalls();
      const values = await counter.getMany(names);
      expect(env.cache.calls.getMany).toBe(1);
      expect(env.store.calls.lookup).toBe(1);
      expect(values.map((v) => v.total)).toEqual(names.map((_, i) => Math.floor(i / 30) + 1));
    });

    it('shows durable counts with pendingKnown false while memcache is down', async () => {
      const counter = env.counter();
      const [a, b] = [fresh('a'), fresh('b')];
      await counter.increment(a, 2);
      env.clock.closeEpoch();
      await counter.flush();
      await counter.increment(b, 1);
      env.cache.faults.failNext(1, { operations: ['getMany'] });
      expect(await counter.getMany([a, b])).toEqual([
        { durable: 2, pending: 0, total: 2, pendingKnown: false },
        { durable: 0, pending: 0, total: 0, pendingKnown: false },
      ]);
      env.store.faults.failNext(1, { operations: ['lookup'] });
      await expect(counter.getMany([a])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    });

    it('a flush committing between the lookup and the slot read counts nothing twice', async () => {
      const writer = env.counter();
      const names = [fresh('held-a'), fresh('held-b'), fresh('held-c')];
      await inParallel(3, 20, (w) => writer.increment(names[w]!));
      env.clock.closeEpoch();
      const held = heldCache(env.cache);
      const reader = env.counter({ cache: held.cache });
      const reading = reader.getMany(names);
      await held.reached;
      const report = await writer.flush({ names });
      expect(report.moved).toBe(60);
      held.release();
      // Entities read before the flush (durable 0, no watermark), slots after: 20 pending each.
      expect((await reading).map((v) => [v.durable, v.total])).toEqual(names.map(() => [0, 20]));
      expect((await reader.getMany(names)).map((v) => [v.durable, v.total])).toEqual(
        names.map(() => [20, 20]),
      );
    });

    it('batch reads racing increments (some into a draining slot) and flushes never count twice', async () => {
      const counter = env.counter();
      const lagging = env.counter({ now: () => env.clock.now() - INTERVAL_MS });
      const names = [fresh('race-a'), fresh('race-b'), fresh('race-c'), fresh('race-d')];
      await inParallel(4, 10, (w) => counter.increment(names[w]!));
      env.clock.closeEpoch();
      const started = names.map(() => 10);
      const done = names.map(() => 10);
      let writing = true;
      const writers = inParallel(4, 30, async (w, i) => {
        const target = (w + i) % names.length;
        started[target]!++;
        await (i % 2 === 0 ? lagging : counter).increment(names[target]!);
        done[target]!++;
      }).finally(() => {
        writing = false;
      });
      const flushes = (async () => {
        let moved = 0;
        while (writing) {
          const report = await counter.flush({ names });
          expect(report.errors).toEqual([]);
          moved += report.moved;
        }
        return moved;
      })();
      let reads = 0;
      while (writing) {
        const before = [...done];
        const values = await counter.getMany(names);
        reads++;
        for (const [i, value] of values.entries()) {
          expect(value.pendingKnown).toBe(true);
          expect(value.total).toBeGreaterThanOrEqual(before[i]!);
          expect(value.total).toBeLessThanOrEqual(started[i]!);
        }
      }
      await writers;
      const moved = await flushes;
      expect(reads).toBeGreaterThan(0);
      env.clock.closeEpoch();
      const last = await counter.flush({ names });
      expect(moved + last.moved).toBe(4 * 10 + 4 * 30);
      const totals = (await counter.getMany(names)).map((v) => [v.durable, v.pending]);
      expect(totals).toEqual(done.map((n) => [n, 0]));
    });

    it('refuses bad input before any I/O', async () => {
      const counter = env.counter();
      env.cache.resetCalls();
      env.store.resetCalls();
      const bad: unknown[] = [
        'name',
        ['ok', ''],
        [42],
        new Set(['a']),
        null,
        Array(1001).fill('a'),
      ];
      for (const names of bad) {
        await expect(counter.getMany(names as string[])).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
      }
      await expect(counter.getMany(['ok', ' '])).rejects.toMatchObject({
        context: { argument: 'names[1]' },
      });
      expect(env.cache.calls.getMany + env.store.calls.lookup).toBe(0);
    });
  });
}
