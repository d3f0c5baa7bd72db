import { StoreUnavailableError } from '@shardcount/storage';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PingPongCounterKind } from '../../src/index.js';
import { type Environment, INTERVAL_MS } from './environment.js';
import { GatedCache } from './gated-cache.js';
import { epochOf, inParallel } from './scenarios.js';

/**
 * Issue 11's guarantees (never twice whatever the timing, retention, flush cost, idle
 * counters, reset and delete), on the fake clock, run against any pair of backends.
 */
export function durabilityScenarios(
  label: string,
  makeEnvironment: () => Promise<Environment>,
): void {
  describe(`PingPongCounter durability (${label})`, () => {
    let env: Environment;

    beforeEach(async () => {
      env = await makeEnvironment();
    });

    afterEach(async () => {
      await env.close();
    });

    const fresh = (prefix: string): string =>
      `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
    const entityOf = (name: string) =>
      env.store.load(PingPongCounterKind.key(`${env.namespace}:${name}`));

    it('a flush held between its slot read and its commit moves nothing another flusher drained and closed', async () => {
      const writer = env.counter();
      const name = fresh('held');
      const epoch = epochOf(env.clock.now());
      await inParallel(4, 25, () => writer.increment(name)); // 100 in epoch e
      await writer.close(); // writes the registration
      env.clock.closeEpoch(); // e is drainable, not yet closable

      const gated = new GatedCache(env.cache);
      const slow = env.counter({ cache: gated });
      const hold = gated.holdNextGetMany();
      const slowFlush = slow.flush({ names: [name] });
      await hold.reached; // it has read the slot (100) and computed its epochs
      try {
        env.clock.advance(2 * INTERVAL_MS); // now e is closable
        const fast = env.counter();
        expect(await fast.flush()).toMatchObject({ moved: 100, errors: [] });
        const closed = await entityOf(name);
        expect(closed?.closedBefore).toBeGreaterThan(epoch);
        expect(closed?.drained).toEqual([]);
      } finally {
        hold.release();
      }
      expect(await slowFlush).toMatchObject({ moved: 0, errors: [] });
      const fast = env.counter();
      expect(await fast.get(name)).toMatchObject({ durable: 100, pending: 0 });
    });

    it('an increment into a closed epoch is not counted, not shown and never moved (the closed-epoch rule)', async () => {
      const counter = env.counter();
      const name = fresh('closed');
      await counter.increment(name, 5);
      env.clock.closeEpoch();
      expect((await counter.flush({ names: [name] })).moved).toBe(5);
      env.clock.advance(INTERVAL_MS);
      await counter.flush({ names: [name] }); // closes the epoch
      // A process whose clock is two intervals slow (beyond intervalMs + settleMs) writes
      // into the closed epoch.
      const skewed = env.counter({ now: () => env.clock.now() - 2 * INTERVAL_MS });
      expect(await skewed.increment(name, 7)).toBe('cached');
      expect(await counter.get(name)).toMatchObject({ durable: 5, pending: 0 });
      await skewed.close(); // its registration cannot reopen a closed epoch
      expect((await counter.flush({ names: [name] })).moved).toBe(0);
      env.clock.advance(INTERVAL_MS);
      expect((await counter.flush()).moved).toBe(0);
      expect(await counter.get(name)).toMatchObject({ durable: 5, pending: 0 });
    });

    it('counts wait through a store outage of 20 intervals and move exactly once', async () => {
      const [a, b] = [env.counter(), env.counter()];
      const names = [fresh('outage-a'), fresh('outage-b')];
      env.store.faults.failAlways();
      let n = 0;
      for (let interval = 0; interval < 20; interval++) {
        await inParallel(4, 5, (w, i) => (w % 2 === 0 ? a : b).increment(names[(w + i) % 2]!));
        n += 20;
        env.clock.advance(INTERVAL_MS);
        const report = await a.flush();
        expect(report.moved).toBe(0);
        expect(report.errors.length).toBeGreaterThan(0);
      }
      env.store.faults.heal();
      await b.flush({ names: [] }); // b's registrations go through (its timer would too)
      env.clock.closeEpoch();
      const back = await a.flush();
      expect(back).toMatchObject({ moved: n, errors: [], lost: [] });
      expect(back.epochs.last - back.epochs.first + 1).toBeGreaterThanOrEqual(20);
      expect((await b.flush()).moved).toBe(0);
      const totals = await Promise.all(names.map((name) => a.get(name)));
      expect(totals.map((t) => t.durable)).toEqual([n / 2, n / 2]);
      expect(totals.every((t) => t.pending === 0)).toBe(true);
    });

    it('a flush of 1,000 counters reads only their open epochs, not 24 hours of them', async () => {
      const intervalMs = 600_000;
      const writer = env.counter({ intervalMs, registrationDelayMs: 60_000 });
      const names = Array.from({ length: 1_000 }, (_, i) => `cost-${i}`);
      await inParallel(10, 100, (w, i) => writer.increment(names[w * 100 + i]!));
      await writer.close(); // registers the 1,000 names
      env.clock.closeEpoch(intervalMs);

      const counting = new GatedCache(env.cache);
      const flusher = env.counter({ intervalMs, cache: counting });
      const first = await flusher.flush();
      expect(first).toMatchObject({ counters: 1_000, moved: 1_000, errors: [] });
      // One epoch per counter, two slots each, 1,000 keys per multi-get. Reading the
      // retention would be 144 epochs per counter: 288,000 keys.
      expect(counting.getManyKeys).toBe(2_000);
      expect(counting.getManyCalls).toBe(2);

      // An interval later, nothing new: the drained epoch and the one just ended.
      env.clock.advance(intervalMs);
      const second = await flusher.flush();
      expect(second.moved).toBe(0);
      expect(counting.getManyKeys - 2_000).toBe(4_000);
    }, 180_000);

    it('idle counters stop costing flushes and come back on their next increment', async () => {
      const retentionMs = 4 * INTERVAL_MS;
      const options = { retentionMs, registrationDelayMs: 1 };
      const [a, b] = [env.counter(options), env.counter(options)];
      const name = fresh('idle');
      await a.increment(name, 5);
      await vi.waitFor(() => expect(a.stats().registrations).toBe(1), { interval: 5 });

      const counting = new GatedCache(env.cache);
      const flusher = env.counter({ retentionMs, cache: counting });
      let idled = 0;
      for (let i = 0; i < 6; i++) {
        env.clock.advance(INTERVAL_MS);
        idled += (await flusher.flush()).idled;
      }
      expect(idled).toBe(1);
      expect((await entityOf(name))?.idle).toBe(true);
      const callsBefore = counting.getManyCalls;
      expect(await flusher.flush()).toMatchObject({ counters: 0, moved: 0 });
      expect(counting.getManyCalls).toBe(callsBefore);

      // Increments from a process that registered it long ago and one that never did.
      await inParallel(4, 10, (w) => (w % 2 === 0 ? a : b).increment(name));
      await flusher.flush(); // may run before the registrations: it must not lose them
      await vi.waitFor(async () => expect((await entityOf(name))?.idle).toBe(false), {
        interval: 5,
        timeout: 5_000,
      });
      env.clock.closeEpoch();
      expect((await flusher.flush()).moved).toBe(40);
      expect(await flusher.get(name)).toMatchObject({ durable: 45, pending: 0 });
    });

    it('reset discards the count and what is pending; later increments count from zero', async () => {
      const counter = env.counter();
      const name = fresh('reset');
      await inParallel(3, 10, () => counter.increment(name));
      env.clock.closeEpoch();
      await counter.flush();
      await inParallel(2, 5, () => counter.increment(name, -1));
      expect(await counter.get(name)).toMatchObject({ durable: 30, pending: -10 });
      await counter.reset(name);
      expect(await counter.get(name)).toMatchObject({ durable: 0, pending: 0, total: 0 });
      await inParallel(1, 7, () => counter.increment(name));
      env.clock.closeEpoch();
      expect((await counter.flush()).moved).toBe(7);
      expect(await counter.get(name)).toMatchObject({ durable: 7, pending: 0 });
    });

    it('reset with concurrent increments and a held flush: every increment counts at most once', async () => {
      const counter = env.counter();
      const name = fresh('reset-race');
      await inParallel(4, 10, () => counter.increment(name)); // 40 before
      env.clock.closeEpoch();

      const gated = new GatedCache(env.cache);
      const slow = env.counter({ cache: gated });
      const hold = gated.holdNextGetMany();
      const slowFlush = slow.flush({ names: [name] });
      await hold.reached; // it read 40 and will try to move them after the reset

      let during = 0;
      let stop = false;
      const racing = inParallel(4, 1, async () => {
        while (!stop) {
          await counter.increment(name);
          during++;
          await new Promise((resolve) => setImmediate(resolve)); // let the reset run too
        }
      });
      try {
        await counter.reset(name);
      } finally {
        stop = true;
        await racing;
        hold.release();
      }
      expect((await slowFlush).errors).toEqual([]);
      await inParallel(2, 5, () => counter.increment(name)); // 10 after
      env.clock.closeEpoch();
      await counter.flush();
      const { durable, pending } = await counter.get(name);
      expect(pending).toBe(0);
      expect(during).toBeGreaterThan(0);
      expect(durable).toBeGreaterThanOrEqual(10);
      expect(durable).toBeLessThanOrEqual(10 + during);
    });

    it('delete reads 0, keeps a tombstone that nothing is moved from twice, and a later increment starts again', async () => {
      const counter = env.counter();
      const name = fresh('deleted');
      await inParallel(2, 10, () => counter.increment(name));
      env.clock.closeEpoch();
      await counter.flush();
      await inParallel(1, 5, () => counter.increment(name));
      await counter.delete(name);
      expect(await counter.get(name)).toMatchObject({ durable: 0, pending: 0 });
      expect((await entityOf(name))?.deleted).toBe(true);
      env.clock.closeEpoch();
      expect((await counter.flush()).moved).toBe(0);

      const other = env.counter(); // a process that increments it concurrently, after
      await inParallel(3, 1, (w) => (w === 0 ? counter : other).increment(name, 2));
      env.clock.closeEpoch();
      expect((await counter.flush()).moved).toBe(6);
      expect(await counter.get(name)).toMatchObject({ durable: 6, pending: 0 });
      expect((await entityOf(name))?.deleted).toBe(false);
    });

    it('delete racing increments and a flush: the discarded counts never come back', async () => {
      const counter = env.counter();
      const name = fresh('delete-race');
      // 2,000,000 before, discarded: far more than the racing loops below can add, however
      // fast the machine, so a leak of the discarded counts cannot hide inside `during`.
      const DISCARDED = 2_000_000;
      await inParallel(4, 50, () => counter.increment(name, DISCARDED / 200));
      env.clock.closeEpoch();
      const gated = new GatedCache(env.cache);
      const slow = env.counter({ cache: gated });
      const hold = gated.holdNextGetMany();
      const slowFlush = slow.flush({ names: [name] });
      await hold.reached;
      let during = 0;
      let stop = false;
      const racing = inParallel(3, 1, async () => {
        while (!stop) {
          await counter.increment(name);
          during++;
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
      try {
        await counter.delete(name);
      } finally {
        stop = true;
        await racing;
        hold.release();
      }
      expect((await slowFlush).errors).toEqual([]);
      env.clock.closeEpoch();
      await counter.flush();
      env.clock.closeEpoch();
      await counter.flush();
      const { durable, pending } = await counter.get(name);
      expect(pending).toBe(0);
      expect(during).toBeLessThan(DISCARDED);
      expect(durable).toBeGreaterThanOrEqual(0);
      expect(durable).toBeLessThanOrEqual(during);
    });

    it('reset and delete need memcache: with it down they change nothing', async () => {
      const counter = env.counter();
      const name = fresh('reset-down');
      await counter.increment(name, 3);
      env.cache.faults.failAlways();
      await expect(counter.reset(name)).rejects.toMatchObject({ code: 'CACHE_UNAVAILABLE' });
      await expect(counter.delete(name)).rejects.toMatchObject({ code: 'CACHE_UNAVAILABLE' });
      env.cache.faults.heal();
      expect(await counter.get(name)).toMatchObject({ durable: 0, pending: 3 });
      env.store.faults.failNext(1, { operations: ['commit'] });
      await expect(counter.reset(name)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(await counter.get(name)).toMatchObject({ durable: 0, pending: 3 });
    });
  });
}
