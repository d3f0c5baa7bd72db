import {
  AmbiguousCommitError,
  CacheUnavailableError,
  InvalidArgumentError,
  StoreUnavailableError,
} from '@shardcount/storage';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type CounterLoss,
  PingPongCounterKind,
  type PingPongCounterOptions,
  slotKey,
} from '../../src/index.js';
import { type Environment, INTERVAL_MS } from './environment.js';

/** Runs `perWorker` calls of `task` in each of `workers` concurrent loops. */
export async function inParallel(
  workers: number,
  perWorker: number,
  task: (worker: number, i: number) => Promise<unknown>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; i < perWorker; i++) await task(worker, i);
    }),
  );
}

/** Epoch of a clock reading under the scenarios' interval. */
export const epochOf = (ms: number): number => Math.floor(ms / INTERVAL_MS);

/**
 * The guarantees of issue 4, as scenarios run against any pair of backends: the embedded
 * adapters and the real memcached + Datastore emulator run the same file.
 */
export function pingPongScenarios(
  label: string,
  makeEnvironment: () => Promise<Environment>,
): void {
  describe(`PingPongCounter scenarios (${label})`, () => {
    let env: Environment;

    beforeEach(async () => {
      env = await makeEnvironment();
    });

    afterEach(async () => {
      await env.close();
    });

    const fresh = (prefix: string): string =>
      `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

    it('moves exactly N increments from parallel workers over two instances into the durable count', async () => {
      const a = env.counter();
      const b = env.counter();
      const name = fresh('views');
      const workers = 8;
      const perWorker = 25;
      // Half the increments in one epoch, half in the next: the flush drains both slots.
      await inParallel(workers, perWorker, (w) => (w % 2 === 0 ? a : b).increment(name));
      env.clock.advance(INTERVAL_MS);
      await inParallel(workers, perWorker, (w) => (w % 2 === 0 ? b : a).increment(name));
      const n = 2 * workers * perWorker;

      expect(await a.get(name)).toEqual({ durable: 0, pending: n, total: n, pendingKnown: true });
      env.clock.closeEpoch();
      const report = await a.flush();
      expect(report.errors).toEqual([]);
      expect(report.moved).toBe(n);
      expect(await b.get(name)).toEqual({ durable: n, pending: 0, total: n, pendingKnown: true });
      expect(a.stats().cached + b.stats().cached).toBe(n);
    });

    it('never double counts with several flushers running at once', async () => {
      // Three epochs of increments before one flush, by processes that then shut down.
      const writers = [env.counter(), env.counter()];
      const names = [fresh('a'), fresh('b'), fresh('c')];
      let n = 0;
      for (let round = 0; round < 3; round++) {
        await inParallel(6, 10, (w, i) => writers[w % 2]!.increment(names[(w + i) % 3]!));
        n += 60;
        env.clock.advance(INTERVAL_MS);
      }
      await Promise.all(writers.map((w) => w.close())); // writes their registrations
      env.clock.closeEpoch();
      const flushers = [env.counter(), env.counter(), env.counter()];
      const reports = await Promise.all(flushers.map((f) => f.flush({ names })));
      for (const report of reports) expect(report.errors).toEqual([]);
      expect(reports.reduce((sum, r) => sum + r.moved, 0)).toBe(n);
      const totals = await Promise.all(names.map((name) => flushers[0]!.get(name)));
      expect(totals.reduce((sum, v) => sum + v.durable, 0)).toBe(n);
      expect(totals.every((v) => v.pending === 0)).toBe(true);
      // And again: nothing left to move.
      expect((await flushers[1]!.flush({ names })).moved).toBe(0);
    });

    it('a flush killed after its commit applied (reply lost) counts nothing twice', async () => {
      const counter = env.counter();
      const name = fresh('killed');
      await inParallel(4, 10, () => counter.increment(name));
      env.clock.closeEpoch();
      await counter.flush({ names: [] }); // registers the name, drains nothing
      env.store.faults.ambiguousNextCommit(1, { applied: true });
      const first = await counter.flush();
      expect(first.errors).toHaveLength(1);
      expect(first.errors[0]?.name).toBe(name);
      expect(first.errors[0]?.error).toBeInstanceOf(AmbiguousCommitError);
      expect((await counter.get(name)).durable).toBe(40);

      const retry = await counter.flush();
      expect(retry.errors).toEqual([]);
      expect(retry.moved).toBe(0);
      // Named, the flush skips the registry snapshot and decides inside the transaction.
      expect(await counter.flush({ names: [name] })).toMatchObject({ moved: 0, errors: [] });
      expect(await counter.get(name)).toMatchObject({ durable: 40, pending: 0 });
    });

    it('a flush whose commit did not apply is completed by the next one', async () => {
      const counter = env.counter();
      const name = fresh('unapplied');
      await inParallel(4, 10, () => counter.increment(name));
      env.clock.closeEpoch();
      await counter.flush({ names: [] }); // registers the name, drains nothing
      env.store.faults.ambiguousNextCommit(1, { applied: false });
      const first = await counter.flush({ names: [name] });
      expect(first.errors.map((e) => e.error)).toEqual([expect.any(AmbiguousCommitError)]);
      expect(await counter.get(name)).toMatchObject({ durable: 0, pending: 40 });
      expect((await counter.flush({ names: [name] })).moved).toBe(40);
      expect(await counter.get(name)).toMatchObject({ durable: 40, pending: 0 });
    });

    it('a flush that fails at any backend call is retried to the exact total', async () => {
      const writer = env.counter();
      const names = ['query', 'beginTransaction', 'lookup', 'commit'].map((op) => fresh(op));
      await inParallel(4, 5, (w) => writer.increment(names[w]!, 3));
      await writer.close(); // writes the registry entries
      env.clock.closeEpoch();
      const flusher = env.counter();
      const ops = ['query', 'beginTransaction', 'lookup', 'commit'] as const;
      let moved = 0;
      for (const op of ops) {
        env.store.faults.failNext(1, { operations: [op] });
        const report = await flusher.flush();
        expect(report.errors).toHaveLength(1);
        expect(report.errors[0]?.error).toBeInstanceOf(StoreUnavailableError);
        moved += report.moved;
      }
      env.cache.faults.failNext(1, { operations: ['getMany'] });
      const cacheDown = await flusher.flush();
      expect(cacheDown.errors.map((e) => e.error)).toEqual(
        names.map(() => expect.any(CacheUnavailableError)),
      );
      const last = await flusher.flush();
      expect(last.errors).toEqual([]);
      moved += last.moved;
      expect(moved).toBe(4 * 15);
      for (const name of names) expect((await flusher.get(name)).durable).toBe(15);
    });

    it('moves increments that land in a slot while it is being drained in a later flush', async () => {
      const counter = env.counter();
      // A process whose clock is one interval behind still writes to the epoch being drained.
      const lagging = env.counter({ now: () => env.clock.now() - INTERVAL_MS });
      const name = fresh('late');
      await inParallel(4, 10, () => counter.increment(name));
      env.clock.closeEpoch();
      await counter.flush({ names: [] });

      env.store.faults.delay(30, { operations: ['commit'] });
      const readsBefore = env.cache.calls.getMany;
      const flushing = counter.flush();
      await vi.waitFor(() => expect(env.cache.calls.getMany).toBeGreaterThan(readsBefore), {
        interval: 1,
      });
      await inParallel(3, 5, () => lagging.increment(name)); // after the flush read the slot
      const first = await flushing;
      env.store.faults.heal();
      expect(first.errors).toEqual([]);
      expect(first.moved).toBe(40);
      expect(await counter.get(name)).toMatchObject({ durable: 40, pending: 15, total: 55 });

      const second = await counter.flush();
      expect(second.moved).toBe(15);
      expect(await counter.get(name)).toMatchObject({ durable: 55, pending: 0 });
    });

    it('keeps counting while the store is down and moves everything once it is back', async () => {
      const counter = env.counter();
      const stranger = env.counter(); // a flusher that never saw the names
      const names = [fresh('x'), fresh('y')];
      env.store.faults.failAlways();
      await inParallel(6, 10, (w, i) => counter.increment(names[(w + i) % 2]!));
      env.clock.advance(INTERVAL_MS);
      await inParallel(6, 10, (w, i) => counter.increment(names[(w + i) % 2]!));
      expect(counter.stats().cached).toBe(120);
      env.clock.closeEpoch();

      const down = await counter.flush();
      expect(down.moved).toBe(0);
      expect(down.flushed).toBe(0);
      // The registry query fails, and each counter this process knows fails on its own.
      expect(down.errors.map((e) => e.name).sort()).toEqual([undefined, ...names].sort());
      for (const failure of down.errors)
        expect(failure.error).toBeInstanceOf(StoreUnavailableError);
      expect((await stranger.flush()).errors.map((e) => e.error)).toEqual([
        expect.any(StoreUnavailableError),
      ]);
      await expect(counter.get(names[0]!)).rejects.toBeInstanceOf(StoreUnavailableError);

      env.store.faults.heal();
      const back = await stranger.flush({ names });
      expect(back.errors).toEqual([]);
      expect(back.moved).toBe(120);
      expect((await counter.flush()).moved).toBe(0);
      for (const name of names) {
        expect(await counter.get(name)).toMatchObject({ durable: 60, pending: 0 });
      }
    });

    it("onCacheUnavailable 'write-through' (default) adds to the durable count and loses nothing", async () => {
      const counter = env.counter();
      const name = fresh('wt');
      await inParallel(4, 10, () => counter.increment(name));
      env.cache.faults.failAlways();
      const outcomes = new Set<string>();
      await inParallel(4, 10, async () => outcomes.add(await counter.increment(name)));
      expect([...outcomes]).toEqual(['written-through']);
      expect(await counter.get(name)).toEqual({
        durable: 40,
        pending: 0,
        total: 40,
        pendingKnown: false,
      });
      env.cache.faults.heal();
      await inParallel(4, 10, () => counter.increment(name));
      env.clock.closeEpoch();
      expect((await counter.flush()).moved).toBe(80);
      expect(await counter.get(name)).toMatchObject({ durable: 120, pending: 0, total: 120 });
      expect(counter.stats()).toMatchObject({ cached: 80, writtenThrough: 40, lostIncrements: 0 });
    });

    it("onCacheUnavailable 'drop' discards increments and counts them as lost", async () => {
      const counter = env.counter({
        onCacheUnavailable: 'drop',
        registrationDelayMs: 60_000,
      });
      const name = fresh('drop');
      await inParallel(2, 10, () => counter.increment(name));
      env.cache.faults.failAlways();
      env.store.resetCalls();
      await inParallel(2, 10, async () => expect(await counter.increment(name, 2)).toBe('dropped'));
      expect(env.store.calls.commit).toBe(0);
      env.cache.faults.heal();
      env.clock.closeEpoch();
      await counter.flush();
      expect(await counter.get(name)).toMatchObject({ durable: 20, pending: 0 });
      expect(counter.stats()).toMatchObject({ cached: 20, lostIncrements: 20, lostAmount: 40 });
    });

    it("onCacheUnavailable 'throw' rejects with CacheUnavailableError and records nothing", async () => {
      const counter = env.counter({ onCacheUnavailable: 'throw' });
      const name = fresh('throw');
      await counter.increment(name, 5);
      env.cache.faults.failNext(1, { operations: ['incr'] });
      await expect(counter.increment(name)).rejects.toBeInstanceOf(CacheUnavailableError);
      env.clock.closeEpoch();
      await counter.flush();
      expect(await counter.get(name)).toMatchObject({ durable: 5, pending: 0 });
      expect(counter.stats()).toMatchObject({ cached: 1, cacheFailures: 1 });
    });

    it('a cache that fails part of the time under load still adds up exactly (write-through)', async () => {
      const counters = [env.counter(), env.counter()];
      const name = fresh('flaky');
      env.cache.faults.failNext(15, { operations: ['incr'] });
      await inParallel(8, 10, (w) => counters[w % 2]!.increment(name));
      const written = counters.reduce((sum, c) => sum + c.stats().writtenThrough, 0);
      expect(written).toBe(15);
      env.clock.closeEpoch();
      await counters[0]!.flush();
      expect(await counters[1]!.get(name)).toMatchObject({ durable: 80, pending: 0 });
    });

    it('reports a drained slot that memcache lost, and moves what re-created it', async () => {
      const counter = env.counter();
      const lagging = env.counter({ now: () => env.clock.now() - INTERVAL_MS });
      const losses: CounterLoss[] = [];
      const flusher = env.counter({ onLoss: (loss) => losses.push(loss) });
      const name = fresh('evicted');
      const firstEpoch = epochOf(env.clock.now());
      await inParallel(4, 5, () => counter.increment(name)); // 20 in epoch e
      env.clock.advance(INTERVAL_MS);
      await inParallel(4, 10, () => counter.increment(name)); // 40 in epoch e+1

      // Slot e is lost before any flush: nothing can tell (no watermark yet); 20 are lost.
      expect(await env.cache.delete(slotKey(env.namespace, name, firstEpoch, 'up'))).toBe(true);
      env.clock.closeEpoch();
      const first = await flusher.flush({ names: [name] });
      expect(first).toMatchObject({ moved: 40, lost: [] });

      // Epoch e+1 is drained (watermark 40) but still open. 7 late increments land in it,
      // then memcache loses the slot, and 3 more re-create it: the flush sees a slot below
      // its watermark, reports the epoch lost (the 7), and moves the 3 it had never counted.
      await inParallel(1, 7, () => lagging.increment(name));
      expect(await counter.get(name)).toMatchObject({ durable: 40, pending: 7 });
      await env.cache.delete(slotKey(env.namespace, name, firstEpoch + 1, 'up'));
      await inParallel(1, 3, () => lagging.increment(name));
      const second = await flusher.flush({ names: [name] });
      expect(second).toMatchObject({ moved: 3, lost: [{ name, epochs: [firstEpoch + 1] }] });
      expect(losses).toEqual([{ name, epochs: [firstEpoch + 1] }]);
      expect(flusher.stats().lostEpochs).toBe(1);
      expect(await counter.get(name)).toMatchObject({ durable: 43, pending: 0, total: 43 });
      // Reported once: the next flush sees the slot at its new watermark.
      expect(await flusher.flush({ names: [name] })).toMatchObject({ moved: 0, lost: [] });

      // A slot gone for good (no re-creation) is reported too.
      await inParallel(1, 2, () => lagging.increment(name));
      expect((await flusher.flush({ names: [name] })).moved).toBe(2);
      await env.cache.delete(slotKey(env.namespace, name, firstEpoch + 1, 'up'));
      const gone = await flusher.flush({ names: [name] });
      expect(gone).toMatchObject({ moved: 0, lost: [{ name, epochs: [firstEpoch + 1] }] });
      expect(await counter.get(name)).toMatchObject({ durable: 45, pending: 0 });
    });

    it('supports negative deltas in a separate slot, never clamped at zero', async () => {
      const counter = env.counter();
      const name = fresh('stock');
      await inParallel(4, 10, (w) => counter.increment(name, w % 2 === 0 ? 3 : -5));
      expect(await counter.get(name)).toMatchObject({ pending: -40, total: -40 });
      env.clock.closeEpoch();
      expect((await counter.flush()).moved).toBe(-40);
      await counter.increment(name, 100);
      expect(await counter.get(name)).toMatchObject({ durable: -40, pending: 100, total: 60 });
    });

    it('flushes counters registered by other processes without being told their names', async () => {
      const writer = env.counter({ registrationDelayMs: 5 });
      const names = [fresh('r1'), fresh('r2'), fresh('r3')];
      for (const name of names) await writer.increment(name, 2);
      // The registration timer writes the entities off the increment path.
      await vi.waitFor(() => expect(writer.stats().registrations).toBe(3), { interval: 5 });
      env.clock.closeEpoch();
      const stranger = env.counter();
      const partial = await stranger.flush({ names: [names[0]!] });
      expect(partial).toMatchObject({ counters: 1, flushed: 1, moved: 2 });
      const report = await stranger.flush();
      expect(report).toMatchObject({ counters: 3, flushed: 2, moved: 4 });
    });

    it('rejects bad input before any I/O', async () => {
      const counter = env.counter();
      env.cache.resetCalls();
      env.store.resetCalls();
      const bad: Array<Partial<PingPongCounterOptions>> = [
        { intervalMs: 999 },
        { intervalMs: 1500.5 },
        { namespace: '' },
        { namespace: 'has:colon' },
        { namespace: '_reserved' },
        { onCacheUnavailable: 'ignore' as never },
        { slotTtlIntervals: 3 } as never,
        { retentionMs: 4 * INTERVAL_MS - 1 },
        { retentionMs: 30 * 86_400_000 },
        { retentionMs: 86_400_000.5 },
        { onLoss: 'log' as never },
        { settleMs: INTERVAL_MS },
        { flushConcurrency: 0 },
      ];
      for (const options of bad) {
        expect(() => env.counter(options)).toThrow(InvalidArgumentError);
      }
      const badCalls: Array<() => Promise<unknown>> = [
        () => counter.increment(''),
        () => counter.increment('   '),
        () => counter.increment('x'.repeat(501)),
        () => counter.increment('é'.repeat(251)),
        () => counter.increment(42 as never),
        () => counter.increment('ok', 1.5),
        () => counter.increment('ok', Number.NaN),
        () => counter.increment('ok', 2 ** 53),
        () => counter.increment('ok', '1' as never),
        () => counter.get('\t'),
        () => counter.flush({ names: ['ok', ''] }),
        () => counter.flush({ names: 'ok' as never }),
      ];
      for (const call of badCalls)
        await expect(call()).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(() => counter.startFlusher({ everyMs: 0 })).toThrow(InvalidArgumentError);
      expect(Object.values(env.cache.calls).every((n) => n === 0)).toBe(true);
      expect(Object.values(env.store.calls).every((n) => n === 0)).toBe(true);
      expect(await counter.increment('ok', 0)).toBe('noop');
      expect(env.cache.calls.incr).toBe(0);
    });

    it('get() never shows an increment twice or not at all while a flush runs', async () => {
      const counter = env.counter();
      const name = fresh('consistent');
      await inParallel(4, 10, () => counter.increment(name));
      env.clock.closeEpoch();
      const flush = counter.flush({ names: [name] });
      const reads = await Promise.all(Array.from({ length: 20 }, () => counter.get(name)));
      await flush;
      reads.push(await counter.get(name));
      expect(reads.map((r) => r.total)).toEqual(reads.map(() => 40));
      expect(reads.at(-1)).toMatchObject({ durable: 40, pending: 0 });
    });

    it('keeps the entity small and reads only open epochs, whatever the retention', async () => {
      const counter = env.counter();
      const name = fresh('bounded');
      await counter.flush({ names: [] }); // nothing yet
      for (let i = 0; i < 12; i++) {
        await counter.increment(name, 1);
        env.clock.closeEpoch();
        const report = await counter.flush({ names: [name] });
        expect(report.moved).toBe(1);
        // The draining epoch and the one closing now; 1,440 epochs of retention are not read.
        expect(report.epochs.last - report.epochs.first + 1).toBeLessThanOrEqual(2);
      }
      const entity = await env.store.load(PingPongCounterKind.key(`${env.namespace}:${name}`));
      expect(entity?.drained.length).toBeLessThanOrEqual(1);
      expect((await counter.get(name)).durable).toBe(12);
    });
  });
}
