import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CounterPage, PingPongCounter } from '../../src/index.js';
import { type Environment, INTERVAL_MS } from './environment.js';
import { holdNextCacheCall } from './held-cache.js';
import { inParallel } from './scenarios.js';

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
      const held = holdNextCacheCall(env.cache, 'getMany');
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

/** `listCounters` scenarios, run against any pair of backends. */
export function listingScenarios(label: string, makeEnvironment: () => Promise<Environment>): void {
  describe(`PingPongCounter.listCounters (${label})`, () => {
    let env: Environment;

    beforeEach(async () => {
      env = await makeEnvironment();
    });

    afterEach(async () => {
      await env.close();
    });

    /** Every page of a listing, with the cursors between them. */
    async function allPages(
      counter: PingPongCounter,
      options: { prefix?: string; limit?: number },
    ): Promise<CounterPage[]> {
      const pages: CounterPage[] = [];
      let cursor: string | undefined;
      do {
        const page = await counter.listCounters({ ...options, ...(cursor ? { cursor } : {}) });
        pages.push(page);
        cursor = page.cursor;
      } while (cursor !== undefined && pages.length < 100);
      return pages;
    }

    it('pages through the registry by name with an opaque cursor, one query per page and no cache call', async () => {
      const counter = env.counter();
      const names = Array.from({ length: 25 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
      for (const [i, name] of names.entries()) await counter.increment(name, i + 1);
      for (const other of ['other-1', 'pag', 'Page-x']) await counter.increment(other);
      env.clock.closeEpoch();
      await counter.flush({ names: names.slice(0, 3) }); // three have durable counts
      await counter.delete('page-03');
      await counter.flush({ names: [] }); // registers every name

      env.cache.resetCalls();
      env.store.resetCalls();
      const pages = await allPages(counter, { prefix: 'page-', limit: 10 });
      expect(pages.map((p) => p.counters.length)).toEqual([10, 10, 5]);
      expect(pages.map((p) => typeof p.cursor)).toEqual(['string', 'string', 'undefined']);
      expect(env.store.calls.query).toBe(3);
      expect(Object.values(env.cache.calls).every((n) => n === 0)).toBe(true);
      const listed = pages.flatMap((p) => p.counters);
      expect(listed.map((c) => c.name)).toEqual(names);
      expect(listed.slice(0, 4)).toEqual([
        expect.objectContaining({ name: 'page-00', durable: 1, idle: false, deleted: false }),
        expect.objectContaining({ name: 'page-01', durable: 2 }),
        expect.objectContaining({ name: 'page-02', durable: 3 }),
        expect.objectContaining({ name: 'page-03', durable: 0, deleted: true }),
      ]);
      expect(listed[4]).toMatchObject({ durable: 0, createdAt: expect.any(Date) });

      const everything = (await allPages(counter, { limit: 7 })).flatMap((p) => p.counters);
      expect(everything.map((c) => c.name).sort()).toEqual(
        [...names, 'other-1', 'pag', 'Page-x'].sort(),
      );
    });

    it('ends with cursor undefined when the last page is exactly full, and lists only its namespace', async () => {
      const counter = env.counter();
      const stranger = env.counter({ namespace: `${env.namespace}-x` });
      for (const name of ['a', 'b', 'c', 'd']) await counter.increment(name);
      await stranger.increment('a-stranger');
      await counter.flush({ names: [] });
      await stranger.flush({ names: [] });
      const pages = await allPages(counter, { limit: 2 });
      expect(pages.map((p) => p.counters.map((c) => c.name))).toEqual([
        ['a', 'b'],
        ['c', 'd'],
      ]);
      expect(pages[1]?.cursor).toBeUndefined();
      expect(await counter.listCounters({ prefix: 'zz' })).toEqual({
        counters: [],
        cursor: undefined,
      });
      expect((await stranger.listCounters()).counters.map((c) => c.name)).toEqual(['a-stranger']);
    });

    it('a counter registered during a listing shows up once if it sorts after the cursor, never twice', async () => {
      const counter = env.counter();
      for (const name of ['m1', 'm2', 'm3', 'm4']) await counter.increment(name);
      await counter.flush({ names: [] });
      const first = await counter.listCounters({ limit: 2 });
      expect(first.counters.map((c) => c.name)).toEqual(['m1', 'm2']);
      for (const name of ['m0', 'm25', 'm5']) await counter.increment(name);
      await counter.flush({ names: [] });
      const rest: string[] = [];
      let cursor = first.cursor;
      while (cursor !== undefined) {
        const page = await counter.listCounters({ limit: 2, cursor });
        rest.push(...page.counters.map((c) => c.name));
        cursor = page.cursor;
      }
      expect(rest).toEqual(['m25', 'm3', 'm4', 'm5']);
    });

    it('refuses bad options before any I/O', async () => {
      const counter = env.counter();
      env.store.resetCalls();
      const first = await counter.listCounters({ limit: 1 });
      env.store.resetCalls();
      const bad: Array<[unknown, string]> = [
        [{ limit: 0 }, 'options.limit'],
        [{ limit: 1001 }, 'options.limit'],
        [{ limit: 1.5 }, 'options.limit'],
        [{ prefix: 7 }, 'options.prefix'],
        [{ prefix: 'x'.repeat(501) }, 'options.prefix'],
        [{ cursor: 'not-a-cursor' }, 'options.cursor'],
        [{ cursor: '' }, 'options.cursor'],
        [{ cursor: Buffer.from('[2,"a"]').toString('base64url') }, 'options.cursor'],
        [{ after: 'a' }, 'options.after'],
        ['page', 'options'],
        [null, 'options'],
      ];
      for (const [options, argument] of bad) {
        await expect(counter.listCounters(options as never)).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          context: { argument },
        });
      }
      expect(env.store.calls.query).toBe(0);
      expect(first.cursor).toBeUndefined();
    });
  });
}
