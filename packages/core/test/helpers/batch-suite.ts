import {
  CounterNotMutableError,
  CounterStatus,
  MAX_GET_COUNTERS,
  MAX_LIST_LIMIT,
} from '@shardcount/core';
import { InvalidArgumentError, StoreUnavailableError } from '@shardcount/storage';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import { v4 as uuidv4 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { type CounterSuiteSettings, useCounterEnv } from './counter-env.js';
import { GatedEntityStore } from './gated-entity-store.js';

/**
 * Batch reads (`getCounters`), listing (`listCounters`) and asynchronous deletion, on one
 * adapter pair. Listing tests use a kind prefix of their own, so they see only their counters.
 */
export function runBatchSuite(settings: CounterSuiteSettings): void {
  const scope = useCounterEnv(settings);
  const { unique, service } = scope;
  /** A kind prefix no other test uses (letters only). */
  const freshKinds = (): string => `L${uuidv4().replace(/[^a-f]/g, '')}`;

  describe(`getCounters on ${settings.label}`, () => {
    it('answers in input order, twice for a repeated name, undefined for a missing counter', async () => {
      const s = service();
      const [a, b, missing] = [unique('batch-a'), unique('batch-b'), unique('batch-none')];
      await s.increment(a, 5);
      await s.increment(b, 7);
      const first = await s.getCounters([b, missing, a, b]);
      expect(first.map((c) => c?.count)).toEqual([7, undefined, 5, 7]);
      expect(first.map((c) => c?.name)).toEqual([b, undefined, a, b]);
      // From the cache now, still in order; and the same as getCounter.
      const second = await s.getCounters([a, b, missing]);
      expect(second.map((c) => c?.count)).toEqual([5, 7, undefined]);
      expect(second[0]).toEqual(await s.getCounter(a));
      expect(await s.getCounters([])).toEqual([]);
      const store = await s.getCounters([a, missing, b], { skipCache: true });
      expect(store.map((c) => c?.count)).toEqual([5, undefined, 7]);
    });

    it('makes one cache getMany and one store lookup for the misses, then fills', async () => {
      const cache = new FaultInjectingCacheStore(scope.env.cache);
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ cache, store });
      const names = [unique('calls-a'), unique('calls-b'), unique('calls-c')];
      for (const [i, name] of names.entries()) await s.increment(name, i + 1);
      cache.resetCalls();
      store.resetCalls();
      expect(
        (await s.getCounters([...names, unique('calls-missing')])).map((c) => c?.count),
      ).toEqual([1, 2, 3, undefined]);
      expect(cache.calls.getMany).toBe(1);
      // Counters of 3 shards (4 keys each): the four fit one lookup.
      expect(store.calls.lookup).toBe(1);
      // The leases held, so every total (and the absent one) was filled.
      cache.resetCalls();
      store.resetCalls();
      const hits: string[] = [];
      const off = s.on('cacheHit', (e) => hits.push(e.counterName));
      expect((await s.getCounters(names)).map((c) => c?.count)).toEqual([1, 2, 3]);
      off();
      expect(hits.sort()).toEqual([...names].sort());
      expect(cache.calls.getMany).toBe(1);
      expect(cache.calls.get + cache.calls.gets + cache.calls.add + cache.calls.cas).toBe(0);
      expect(store.calls.lookup).toBe(0);
      // skipCache: no cache call at all, one lookup.
      cache.resetCalls();
      store.resetCalls();
      await s.getCounters(names, { skipCache: true });
      expect(cache.calls.getMany + cache.calls.get + cache.calls.gets).toBe(0);
      expect(store.calls.lookup).toBe(1);
    });

    it('a cache outage costs no correctness: every counter read from the store', async () => {
      const cache = new FaultInjectingCacheStore(scope.env.cache);
      const s = service({ cache });
      const names = [unique('outage-a'), unique('outage-b')];
      await s.increment(names[0] as string, 2);
      await s.increment(names[1] as string, 3);
      cache.faults.failAlways();
      const errors: string[] = [];
      s.on('cacheError', (e) => errors.push(e.counterName));
      expect((await s.getCounters(names)).map((c) => c?.count)).toEqual([2, 3]);
      expect(errors).toEqual(expect.arrayContaining(names));
      cache.faults.heal();
    });

    it('batch reads racing writers of two services never miss a committed write nor count one twice', async () => {
      const writer = service();
      const other = service();
      const names = Array.from({ length: 6 }, (_, i) => unique(`race-${i}`));
      const started = new Map(names.map((n) => [n, 0]));
      const committed = new Map(names.map((n) => [n, 0]));
      let writing = true;
      const writers = names.flatMap((name, i) =>
        [0, 1].map(async (w) => {
          const s = w === 0 ? writer : other;
          for (let k = 0; writing && k < 200; k++) {
            const amount = 1 + ((i + k) % 3);
            started.set(name, (started.get(name) ?? 0) + amount);
            await s.increment(name, amount);
            committed.set(name, (committed.get(name) ?? 0) + amount);
          }
        }),
      );
      let reads = 0;
      const readers = [writer, other, service()].map(async (s) => {
        for (let r = 0; r < 25; r++) {
          const before = names.map((n) => committed.get(n) ?? 0);
          const got = await s.getCounters(names);
          const after = names.map((n) => started.get(n) ?? 0);
          got.forEach((counter, i) => {
            const count = counter?.count ?? 0;
            expect(count).toBeGreaterThanOrEqual(before[i] as number);
            expect(count).toBeLessThanOrEqual(after[i] as number);
          });
          reads++;
        }
      });
      await Promise.all(readers);
      writing = false;
      await Promise.all(writers);
      expect(reads).toBe(75);
      const exact = names.map((n) => committed.get(n));
      expect((await writer.getCounters(names)).map((c) => c?.count)).toEqual(exact);
      expect((await other.getCounters(names)).map((c) => c?.count)).toEqual(exact);
      expect(
        (await service().getCounters(names, { skipCache: true })).map((c) => c?.count),
      ).toEqual(exact);
    });

    it('refuses bad input before any I/O', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const cache = new FaultInjectingCacheStore(scope.env.cache);
      const s = service({ store, cache });
      const refused = async (call: () => Promise<unknown>, argument: string) => {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as InvalidArgumentError).context.argument).toBe(argument);
      };
      await refused(() => s.getCounters('a' as unknown as string[]), 'names');
      await refused(() => s.getCounters(['a', ''] as string[]), 'names[1]');
      await refused(() => s.getCounters(['a', 7] as unknown as string[]), 'names[1]');
      await refused(
        () => s.getCounters(Array.from({ length: MAX_GET_COUNTERS + 1 }, (_, i) => `n${i}`)),
        'names',
      );
      await refused(
        () => s.getCounters(['a'], { skipCache: 1 } as unknown as { skipCache: boolean }),
        'options.skipCache',
      );
      await refused(
        () => s.getCounters(['a'], { fresh: true } as unknown as { skipCache: boolean }),
        'options.fresh',
      );
      expect(Object.values(store.calls).reduce((a, b) => a + b, 0)).toBe(0);
      expect(Object.values(cache.calls).reduce((a, b) => a + b, 0)).toBe(0);
    });
  });

  describe(`listCounters on ${settings.label}`, () => {
    it('pages through every counter with cursors, ordered by name, without reading shards', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store, kindPrefix: freshKinds() });
      const names = ['b-2', 'a-1', 'b-1', 'c-1', 'a-3', 'a-2', 'b-3'];
      for (const name of names) await s.createCounter(name, { description: `about ${name}` });
      await s.increment('a-1', 4);
      store.resetCalls();
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await s.listCounters({ limit: 3, ...(cursor ? { cursor } : {}) });
        pages.push(page.counters.map((c) => c.name));
        cursor = page.cursor;
        for (const counter of page.counters) {
          expect(counter).not.toHaveProperty('count');
          expect(counter.description).toBe(`about ${counter.name}`);
          expect(counter.numShards).toBe(3);
          expect(counter.status).toBe(CounterStatus.AVAILABLE);
          expect(counter.createdAt).toBeInstanceOf(Date);
          expect(counter.updatedAt).toBeInstanceOf(Date);
        }
      } while (cursor !== undefined);
      expect(pages).toEqual([['a-1', 'a-2', 'a-3'], ['b-1', 'b-2', 'b-3'], ['c-1']]);
      // One query per page, no lookup at all (no shard read).
      expect(store.calls.query).toBe(3);
      expect(store.calls.lookup).toBe(0);
      // A listing that ends exactly at a page boundary says so on that page.
      const exact = await s.listCounters({ limit: 7 });
      expect(exact.counters).toHaveLength(7);
      expect(exact.cursor).toBeUndefined();
      expect((await s.listCounters()).counters).toHaveLength(7);
    });

    it('filters by prefix and by status, with cursors over more than one page', async () => {
      const s = service({ kindPrefix: freshKinds() });
      for (const name of ['team-a/x', 'team-a/y', 'team-a/z', 'team-ab', 'team-b/x', 'zeta']) {
        await s.createCounter(name);
      }
      await s.updateCounter('team-a/y', { status: CounterStatus.READ_ONLY_COUNT });
      await s.updateCounter('team-b/x', { status: CounterStatus.READ_ONLY_COUNT });
      await s.updateCounter('zeta', { status: CounterStatus.READ_ONLY_COUNT });
      const first = await s.listCounters({ prefix: 'team-a/', limit: 2 });
      expect(first.counters.map((c) => c.name)).toEqual(['team-a/x', 'team-a/y']);
      expect(first.cursor).toEqual(expect.any(String));
      const second = await s.listCounters({
        prefix: 'team-a/',
        limit: 2,
        cursor: first.cursor as string,
      });
      expect(second.counters.map((c) => c.name)).toEqual(['team-a/z']);
      expect(second.cursor).toBeUndefined();
      expect((await s.listCounters({ prefix: 'team-a' })).counters.map((c) => c.name)).toEqual([
        'team-a/x',
        'team-a/y',
        'team-a/z',
        'team-ab',
      ]);
      expect((await s.listCounters({ prefix: 'nothing' })).counters).toEqual([]);
      const readOnly1 = await s.listCounters({ status: CounterStatus.READ_ONLY_COUNT, limit: 2 });
      expect(readOnly1.counters.map((c) => [c.name, c.status])).toEqual([
        ['team-a/y', 'READ_ONLY_COUNT'],
        ['team-b/x', 'READ_ONLY_COUNT'],
      ]);
      const readOnly2 = await s.listCounters({
        status: CounterStatus.READ_ONLY_COUNT,
        limit: 2,
        cursor: readOnly1.cursor as string,
      });
      expect(readOnly2.counters.map((c) => c.name)).toEqual(['zeta']);
      expect(readOnly2.cursor).toBeUndefined();
      const both = await s.listCounters({ prefix: 'team-', status: CounterStatus.READ_ONLY_COUNT });
      expect(both.counters.map((c) => c.name)).toEqual(['team-a/y', 'team-b/x']);
    });

    it('refuses a bad limit, status or cursor before any I/O', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store });
      const refused = async (options: unknown, argument: string) => {
        const error = await s.listCounters(options as Parameters<typeof s.listCounters>[0]).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as InvalidArgumentError).context.argument).toBe(argument);
      };
      await refused({ limit: 0 }, 'options.limit');
      await refused({ limit: MAX_LIST_LIMIT + 1 }, 'options.limit');
      await refused({ limit: 1.5 }, 'options.limit');
      await refused({ limit: '10' }, 'options.limit');
      await refused({ status: 'GONE' }, 'options.status');
      await refused({ prefix: 7 }, 'options.prefix');
      await refused({ cursor: 'not-a-cursor' }, 'options.cursor');
      await refused({ cursor: '1.' }, 'options.cursor');
      await refused(
        { cursor: `1.${Buffer.from('x:abc').toString('base64url')}` },
        'options.cursor',
      );
      await refused({ cursor: 12 }, 'options.cursor');
      await refused({ page: 2 }, 'options.page');
      await refused(null, 'options');
      expect(store.calls.query).toBe(0);
    });
  });

  describe(`delete(name, { wait: false }) on ${settings.label}`, () => {
    it('returns once the counter is DELETING; the removal finishes in the background and close() waits for it', async () => {
      const gated = new GatedEntityStore(scope.env.store);
      const s = service({ store: gated });
      const name = unique('async-delete');
      await s.increment(name, 9);
      await s.increment(name, 1, { idempotencyKey: 'k1' });
      const gate = gated.holdNextDelete('ShardcountShard');
      expect(await s.delete(name, { wait: false })).toBe(true);
      await gate.reached;
      // Held before its shards go: every reader sees DELETING with a count of 0.
      const seen = await s.getCounter(name);
      expect(seen?.status).toBe(CounterStatus.DELETING);
      expect(seen?.count).toBe(0);
      expect((await service().getCounter(name, { skipCache: true }))?.status).toBe('DELETING');
      await expect(s.increment(name)).rejects.toBeInstanceOf(CounterNotMutableError);
      let closed = false;
      const closing = s.close().then(() => {
        closed = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closed).toBe(false);
      gate.release();
      await closing;
      expect(await s.getCounter(name)).toBeUndefined();
      expect(await service().getCounter(name, { skipCache: true })).toBeUndefined();
      // The name is free again.
      await s.increment(name, 2);
      expect((await s.getCounter(name))?.count).toBe(2);
    });

    it('a background failure is an event, never an unhandled rejection; a fresh service resumes it', async () => {
      const failing = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store: failing });
      const name = unique('async-delete-fails');
      await s.increment(name, 3);
      const failures: Array<{ counterName: string; error: Error }> = [];
      s.on('deletionFailed', (e) => failures.push(e));
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        expect(await s.delete(name, { wait: false })).toBe(true);
        // Every call after the mark fails, as if this process had lost the store (or died).
        failing.faults.failAlways();
        await s.close();
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        process.off('unhandledRejection', onUnhandled);
        failing.faults.heal();
      }
      expect(unhandled).toEqual([]);
      expect(failures.map((f) => f.counterName)).toEqual([name]);
      expect(failures[0]?.error).toBeInstanceOf(StoreUnavailableError);
      const fresh = service();
      expect((await fresh.getCounter(name, { skipCache: true }))?.status).toBe('DELETING');
      expect(await fresh.resumeDeletions()).toContain(name);
      expect(await fresh.getCounter(name)).toBeUndefined();
      expect(await s.getCounter(name)).toBeUndefined();
    });

    it('refuses a non-boolean wait before any I/O', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store });
      await expect(
        s.delete('x', { wait: 'no' } as unknown as { wait: boolean }),
      ).rejects.toMatchObject({ context: { argument: 'options.wait' } });
      await expect(
        s.delete('x', { later: true } as unknown as { wait: boolean }),
      ).rejects.toMatchObject({ context: { argument: 'options.later' } });
      expect(Object.values(store.calls).reduce((a, b) => a + b, 0)).toBe(0);
    });
  });
}
