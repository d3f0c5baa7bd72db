import {
  AmbiguousCommitError,
  DeadlineExceededError,
  OperationAbortedError,
} from '@shardcount/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FlushReport } from '../../src/index.js';
import type { Environment } from './environment.js';
import { holdNextCacheCall } from './held-cache.js';

/** An abort reason the tests can recognise as the `cause`. */
const REASON = new Error('the caller gave up');

/** Expects `error` to be the abort's typed error, with the caller's reason as cause. */
function expectAborted(error: unknown): void {
  expect(error).toBeInstanceOf(OperationAbortedError);
  expect((error as Error).cause).toBe(REASON);
}

/** Expects an `AmbiguousCommitError` caused by the abort. */
function expectAmbiguousByAbort(error: unknown): void {
  expect(error).toBeInstanceOf(AmbiguousCommitError);
  expect((error as Error).cause).toBeInstanceOf(OperationAbortedError);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/**
 * `signal` and `timeoutMs` on every async method, run against any pair of backends: an abort
 * at each stage of increment, get, getMany, listCounters, reset, delete and flush, deadlines
 * expiring, and exact totals afterwards.
 */
export function signalScenarios(label: string, makeEnvironment: () => Promise<Environment>): void {
  describe(`PingPongCounter signal and timeoutMs (${label})`, () => {
    let env: Environment;

    beforeEach(async () => {
      env = await makeEnvironment();
    });

    afterEach(async () => {
      await env.close();
    });

    const fresh = (prefix: string): string =>
      `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

    it('increment: aborted before the cache call records nothing; during it, AmbiguousCommitError and it counts', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      const name = fresh('inc');
      await counter.increment(name, 2);

      env.cache.resetCalls();
      const error = await rejection(
        counter.increment(name, 5, { signal: AbortSignal.abort(REASON) }),
      );
      expectAborted(error);
      // A decrement (its own slot) likewise.
      expectAborted(
        await rejection(counter.increment(name, -5, { signal: AbortSignal.abort(REASON) })),
      );
      expect(env.cache.calls.incr).toBe(0);

      const held = holdNextCacheCall(env.cache, 'incr');
      const slow = env.counter({ cache: held.cache });
      const controller = new AbortController();
      const inFlight = rejection(slow.increment(name, 3, { signal: controller.signal }));
      await held.reached;
      controller.abort(REASON);
      expectAmbiguousByAbort(await inFlight);
      held.release();
      await held.settled; // the incr was sent: it applies
      expect((await counter.get(name)).total).toBe(5);

      // A signal that never aborts changes nothing.
      expect(await counter.increment(name, 1, { signal: new AbortController().signal })).toBe(
        'cached',
      );
      expect((await counter.get(name, { timeoutMs: 60_000 })).total).toBe(6);
    });

    it('increment written through: a deadline before the commit writes nothing; an abort during it is ambiguous', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      const name = fresh('through');
      env.cache.faults.failAlways({ operations: ['incr'] });

      // The write-through's lookup is held: the deadline passes before its commit.
      const lookup = env.store.faults.holdNext({ operations: ['lookup'] });
      const error = await rejection(counter.increment(name, 4, { timeoutMs: 300 }));
      expect(error).toBeInstanceOf(DeadlineExceededError);
      expect((error as DeadlineExceededError).context).toMatchObject({
        timeoutMs: 300,
        counterName: name,
      });
      lookup.release();

      const commit = env.store.faults.holdNext({ operations: ['commit'] });
      const controller = new AbortController();
      const committing = rejection(counter.increment(name, 7, { signal: controller.signal }));
      await commit.reached;
      controller.abort(REASON);
      expectAmbiguousByAbort(await committing);
      commit.release();
      await commit.settled;
      env.cache.faults.heal();
      expect(await counter.get(name)).toMatchObject({ durable: 7, pending: 0 });
      expect(counter.stats().writtenThrough).toBe(0);
    });

    it('get and getMany: an abort during the lookup or the slot read rejects at once with the typed error', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      const names = [fresh('g1'), fresh('g2')];
      for (const name of names) await counter.increment(name, 3);

      const lookup = env.store.faults.holdNext({ operations: ['lookup'] });
      const controller = new AbortController();
      const reading = rejection(counter.getMany(names, { signal: controller.signal }));
      await lookup.reached;
      controller.abort(REASON);
      expectAborted(await reading);
      lookup.release();

      const held = holdNextCacheCall(env.cache, 'getMany');
      const slow = env.counter({ cache: held.cache, registrationDelayMs: 60_000 });
      const late = rejection(slow.get(names[0]!, { timeoutMs: 300 }));
      await held.reached;
      expect(await late).toBeInstanceOf(DeadlineExceededError);
      held.release();

      const defaultDeadline = env.counter({ timeoutMs: 300, registrationDelayMs: 60_000 });
      const slowLookup = env.store.faults.holdNext({ operations: ['lookup'] });
      expect(await rejection(defaultDeadline.get(names[1]!))).toMatchObject({
        code: 'DEADLINE_EXCEEDED',
        context: { timeoutMs: 300, operation: 'get' },
      });
      slowLookup.release();
      expect((await counter.getMany(names, { timeoutMs: 60_000 })).map((v) => v.total)).toEqual([
        3, 3,
      ]);
    });

    it('listCounters: an abort during the query rejects with the typed error', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      await counter.increment(fresh('listed'));
      await counter.flush({ names: [] });
      const query = env.store.faults.holdNext({ operations: ['query'] });
      const controller = new AbortController();
      const listing = rejection(counter.listCounters({ signal: controller.signal }));
      await query.reached;
      controller.abort(REASON);
      expectAborted(await listing);
      query.release();
      expect((await counter.listCounters({ timeoutMs: 60_000 })).counters).toHaveLength(1);
    });

    it('reset and delete: an abort before the commit changes nothing; during the commit it is ambiguous', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      const name = fresh('reset');
      await counter.increment(name, 9);
      await counter.flush({ names: [] });
      const commitsBefore = env.store.calls.commit;

      for (const stage of ['load', 'slot read', 'transaction lookup'] as const) {
        const controller = new AbortController();
        let call: Promise<unknown>;
        if (stage === 'slot read') {
          const held = holdNextCacheCall(env.cache, 'getMany');
          const slow = env.counter({ cache: held.cache, registrationDelayMs: 60_000 });
          call = rejection(slow.reset(name, { signal: controller.signal }));
          await held.reached;
          controller.abort(REASON);
          expectAborted(await call);
          held.release();
        } else {
          // The load is the first lookup; the transaction's is the second.
          if (stage === 'transaction lookup') {
            const first = env.store.faults.holdNext({ operations: ['lookup'] });
            call = rejection(counter.delete(name, { signal: controller.signal }));
            await first.reached;
            const second = env.store.faults.holdNext({ operations: ['lookup'] });
            first.release();
            await second.reached;
            controller.abort(REASON);
            expectAborted(await call);
            second.release();
            await second.settled;
          } else {
            const first = env.store.faults.holdNext({ operations: ['lookup'] });
            call = rejection(counter.reset(name, { signal: controller.signal }));
            await first.reached;
            controller.abort(REASON);
            expectAborted(await call);
            first.release();
          }
        }
        expect((await counter.get(name)).total).toBe(9);
      }
      // The abandoned transactions rolled back: no commit reached the store.
      expect(env.store.calls.commit).toBe(commitsBefore);

      const commit = env.store.faults.holdNext({ operations: ['commit'] });
      const controller = new AbortController();
      const resetting = rejection(counter.reset(name, { signal: controller.signal }));
      await commit.reached;
      controller.abort(REASON);
      expectAmbiguousByAbort(await resetting);
      commit.release();
      await commit.settled;
      expect(await counter.get(name)).toMatchObject({ durable: 0, total: 0 });
    });

    it('flush: an abort stops between counters; moved stays moved, the rest is reported and moved once by the next flush', async () => {
      const counter = env.counter({ flushConcurrency: 1, registrationDelayMs: 60_000 });
      const names = [1, 2, 3, 4, 5].map((i) => fresh(`f${i}`));
      for (const [i, name] of names.entries()) await counter.increment(name, i + 1);
      env.clock.closeEpoch();
      await counter.flush({ names: [] }); // registers them

      const controller = new AbortController();
      let drained = 0;
      const off = counter.on('moved', () => {
        drained++;
        if (drained === 2) controller.abort(REASON);
      });
      const report = await counter.flush({ names, signal: controller.signal });
      off();
      expect(report.flushed).toBe(2);
      expectAborted(report.aborted);
      expect(report.errors).toHaveLength(3);
      for (const failure of report.errors) expect(failure.error).toBe(report.aborted);
      const movedNames = names.filter((n) => !report.errors.some((e) => e.name === n));
      expect(movedNames).toHaveLength(2);
      const totalMoved = movedNames.reduce((sum, n) => sum + names.indexOf(n) + 1, 0);
      expect(report.moved).toBe(totalMoved);

      const next = await counter.flush({ names });
      expect(next.aborted).toBeUndefined();
      expect(next.moved).toBe(15 - totalMoved);
      expect((await counter.getMany(names)).map((v) => [v.durable, v.pending])).toEqual(
        names.map((_, i) => [i + 1, 0]),
      );
    });

    it('flush: already aborted, or aborted during the slot read, moves nothing and says which counters', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      const names = [fresh('s1'), fresh('s2')];
      for (const name of names) await counter.increment(name, 2);
      env.clock.closeEpoch();
      await counter.flush({ names: [] });

      const before = await counter.flush({ names, signal: AbortSignal.abort(REASON) });
      expectAborted(before.aborted);
      expect(before).toMatchObject({ moved: 0, flushed: 0 });
      expect(before.errors.map((e) => e.name).sort()).toEqual([...names].sort());

      const whole = await counter.flush({ signal: AbortSignal.abort(REASON) });
      expect(whole.errors).toEqual([{ error: whole.aborted }]);

      const held = holdNextCacheCall(env.cache, 'getMany');
      const slow = env.counter({ cache: held.cache, registrationDelayMs: 60_000 });
      const controller = new AbortController();
      const flushing = slow.flush({ names, signal: controller.signal });
      await held.reached;
      controller.abort(REASON);
      const during = await flushing;
      held.release();
      expect(during).toMatchObject({ moved: 0 });
      expect(during.errors.map((e) => e.name).sort()).toEqual([...names].sort());
      expect((await counter.flush({ names })).moved).toBe(4);
    });

    it('flush: an abort inside a drain transaction, before its commit, moves nothing for that counter', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      const name = fresh('drain');
      await counter.increment(name, 8);
      await counter.increment(name, -3);
      env.clock.closeEpoch();
      await counter.flush({ names: [] });
      const commitsBefore = env.store.calls.commit;

      // The flush's first lookup reads the entity; the second is the drain transaction's.
      const first = env.store.faults.holdNext({ operations: ['lookup'] });
      const controller = new AbortController();
      const flushing = counter.flush({ names: [name], signal: controller.signal });
      await first.reached;
      const second = env.store.faults.holdNext({ operations: ['lookup'] });
      first.release();
      await second.reached;
      controller.abort(REASON);
      const report = await flushing;
      second.release();
      await second.settled;
      expectAborted(report.aborted);
      expect(report).toMatchObject({ moved: 0, flushed: 0 });
      expect(report.errors).toEqual([{ name, error: report.aborted }]);
      expect(env.store.calls.commit).toBe(commitsBefore);
      expect(await counter.get(name)).toMatchObject({ durable: 0, pending: 5 });
      expect((await counter.flush({ names: [name] })).moved).toBe(5);
      expect(await counter.get(name)).toMatchObject({ durable: 5, pending: 0 });
    });

    it('flush: queued behind another flush of the instance, an abort ends it at once without overtaking', async () => {
      const counter = env.counter({ registrationDelayMs: 60_000 });
      const name = fresh('queued');
      await counter.increment(name, 4);
      env.clock.closeEpoch();
      await counter.flush({ names: [] });
      const commit = env.store.faults.holdNext({ operations: ['commit'] });
      const running = counter.flush({ names: [name] });
      await commit.reached;
      const controller = new AbortController();
      const queued = counter.flush({ names: [name], signal: controller.signal });
      const callsBefore = env.store.calls;
      controller.abort(REASON);
      const report = await queued; // while the first one's commit is still held
      expectAborted(report.aborted);
      expect(report.errors).toEqual([{ name, error: report.aborted }]);
      expect(env.store.calls).toEqual(callsBefore);
      const third = counter.flush({ names: [name] }); // queued behind the running one
      commit.release();
      expect((await running).moved).toBe(4);
      expect((await third).moved).toBe(0);
      expect((await counter.get(name)).durable).toBe(4);
    });

    it('flush: an abort during a drain commit is ambiguous, and the next flush neither loses nor doubles', async () => {
      const counter = env.counter({ flushConcurrency: 1, registrationDelayMs: 60_000 });
      const [applied, refused] = [fresh('applied'), fresh('refused')];
      await counter.increment(applied, 11);
      await counter.increment(refused, 13);
      env.clock.closeEpoch();
      await counter.flush({ names: [] });

      for (const [name, apply] of [
        [applied, true],
        [refused, false],
      ] as const) {
        const commit = env.store.faults.holdNext({ operations: ['commit'] });
        if (!apply) env.store.faults.failNext(1, { operations: ['commit'] });
        const controller = new AbortController();
        const flushing = counter.flush({ names: [name], signal: controller.signal });
        await commit.reached;
        controller.abort(REASON);
        const report: FlushReport = await flushing;
        expect(report.errors).toHaveLength(1);
        expect(report.errors[0]?.name).toBe(name);
        expectAmbiguousByAbort(report.errors[0]?.error);
        expectAborted(report.aborted);
        commit.release();
        await commit.settled;
      }
      expect((await counter.get(applied)).durable).toBe(11);
      expect((await counter.get(refused)).durable).toBe(0);
      const next = await counter.flush({ names: [applied, refused] });
      expect(next.moved).toBe(13);
      expect(next.errors).toEqual([]);
      expect((await counter.getMany([applied, refused])).map((v) => v.total)).toEqual([11, 13]);
    });

    it('flush: a deadline expiring midway reports DeadlineExceededError; totals stay exact', async () => {
      const counter = env.counter({ flushConcurrency: 1, registrationDelayMs: 60_000 });
      const names = [1, 2, 3, 4].map((i) => fresh(`d${i}`));
      for (const name of names) await counter.increment(name, 10);
      env.clock.closeEpoch();
      await counter.flush({ names: [] });

      // The first drain's commit is held past the deadline: ambiguous (it then applies);
      // the other three are not started.
      const commit = env.store.faults.holdNext({ operations: ['commit'] });
      const report = await counter.flush({ names, timeoutMs: 1_000 });
      expect(report.aborted).toBeInstanceOf(DeadlineExceededError);
      expect(report).toMatchObject({ moved: 0, flushed: 0 });
      expect(report.errors.map((e) => e.error.constructor)).toEqual([
        AmbiguousCommitError,
        DeadlineExceededError,
        DeadlineExceededError,
        DeadlineExceededError,
      ]);
      commit.release();
      await commit.settled;
      const next = await counter.flush({ names });
      expect(next.moved).toBe(30);
      expect((await counter.getMany(names)).map((v) => [v.durable, v.pending])).toEqual(
        names.map(() => [10, 0]),
      );
    });
  });
}
