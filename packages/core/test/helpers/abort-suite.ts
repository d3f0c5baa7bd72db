import type { CounterOperation, ShardedCounterService } from '@shardcount/core';
import {
  AmbiguousCommitError,
  DeadlineExceededError,
  InvalidArgumentError,
  OperationAbortedError,
} from '@shardcount/storage';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import { v4 as uuidv4 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { type CounterSuiteSettings, useCounterEnv } from './counter-env.js';
import { GatedEntityStore } from './gated-entity-store.js';

/** A change under test: an increment, or a decrement in one of its modes. */
interface Change {
  readonly label: string;
  /** The amount the counter holds before the change (so a decrement has something to take). */
  readonly seed: number;
  readonly run: (
    s: ShardedCounterService,
    name: string,
    options: { signal?: AbortSignal; timeoutMs?: number; idempotencyKey?: string },
  ) => Promise<CounterOperation>;
  /** What the count is after the change applied once. */
  readonly after: (seed: number) => number;
  /** Whether `idempotencyKey` is accepted (one-transaction changes only). */
  readonly idempotent: boolean;
}

const CHANGES: readonly Change[] = [
  {
    label: 'increment',
    seed: 10,
    run: (s, name, options) => s.increment(name, 3, options),
    after: (seed) => seed + 3,
    idempotent: true,
  },
  {
    label: "decrement (mode 'upTo')",
    seed: 10,
    run: (s, name, options) => s.decrement(name, 3, options),
    after: (seed) => seed - 3,
    idempotent: false,
  },
  {
    label: "decrement (mode 'exact')",
    seed: 10,
    run: (s, name, options) => s.decrement(name, 3, { ...options, mode: 'exact' }),
    after: (seed) => seed - 3,
    idempotent: true,
  },
];

/** Rejects with what `promise` rejects with, and how long that took; fails if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - started };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `signal` and `timeoutMs`: an abort at each stage of an increment and a decrement (before,
 * during the shard read, during backoff after contention, during the commit) and deadlines
 * expiring in backoff, each proving what was written.
 */
export function runAbortSuite(settings: CounterSuiteSettings): void {
  const scope = useCounterEnv(settings);
  const { unique, service } = scope;
  /** The count as the store holds it (no cache). */
  const stored = async (name: string) =>
    (await service().getCounter(name, { skipCache: true }))?.count;

  for (const change of CHANGES) {
    describe(`${change.label} stopped by its signal on ${settings.label}`, () => {
      it('before it starts: OperationAbortedError with the reason as cause, no store call', async () => {
        const store = new FaultInjectingEntityStore(scope.env.store);
        const s = service({ store });
        const name = unique('abort-before');
        await s.increment(name, change.seed);
        store.resetCalls();
        const controller = new AbortController();
        const reason = new Error('the request went away');
        controller.abort(reason);
        const { error } = await rejection(change.run(s, name, { signal: controller.signal }));
        expect(error).toBeInstanceOf(OperationAbortedError);
        expect((error as OperationAbortedError).code).toBe('ABORTED');
        expect((error as OperationAbortedError).cause).toBe(reason);
        expect(Object.values(store.calls).reduce((a, b) => a + b, 0)).toBe(0);
        expect(await stored(name)).toBe(change.seed);
      });

      it('during its shard read: rejects at once, and the abandoned attempt writes nothing', async () => {
        const store = new FaultInjectingEntityStore(scope.env.store);
        const s = service({ store });
        const name = unique('abort-read');
        await s.increment(name, change.seed);
        store.faults.delay(400, { operations: ['lookup'] });
        const controller = new AbortController();
        const pending = change.run(s, name, { signal: controller.signal });
        await pause(60);
        controller.abort();
        const { error, ms } = await rejection(pending);
        expect(error).toBeInstanceOf(OperationAbortedError);
        expect(ms).toBeLessThan(250);
        store.faults.heal();
        // Let the abandoned attempt's read finish: it must roll back, not commit.
        await pause(600);
        expect(await stored(name)).toBe(change.seed);
        expect((await s.getCounter(name))?.count).toBe(change.seed);
      });

      it('during backoff after contention: rejects at once, and no retry writes', async () => {
        const store = new FaultInjectingEntityStore(scope.env.store);
        const s = service({ store, retry: { minTimeoutMs: 1000, maxTimeoutMs: 1000 } });
        const name = unique('abort-backoff');
        await s.increment(name, change.seed);
        const controller = new AbortController();
        let contended = 0;
        s.on('contention', () => {
          contended++;
          controller.abort();
        });
        store.faults.contendNext(1);
        const { error, ms } = await rejection(change.run(s, name, { signal: controller.signal }));
        expect(contended).toBe(1);
        expect(error).toBeInstanceOf(OperationAbortedError);
        expect(ms).toBeLessThan(700);
        // The store's backoff (1 s) ends; the retry it would start must write nothing.
        await pause(1300);
        expect(await stored(name)).toBe(change.seed);
      });

      it('a deadline expiring in backoff: DeadlineExceededError at the deadline, nothing written', async () => {
        const store = new FaultInjectingEntityStore(scope.env.store);
        const s = service({ store, retry: { minTimeoutMs: 1000, maxTimeoutMs: 1000 } });
        const name = unique('deadline-backoff');
        await s.increment(name, change.seed);
        store.faults.contendNext(1);
        const { error, ms } = await rejection(change.run(s, name, { timeoutMs: 200 }));
        expect(error).toBeInstanceOf(DeadlineExceededError);
        expect((error as DeadlineExceededError).code).toBe('DEADLINE_EXCEEDED');
        expect((error as DeadlineExceededError).context.timeoutMs).toBe(200);
        expect(ms).toBeLessThan(800);
        await pause(1300);
        expect(await stored(name)).toBe(change.seed);
      });

      it('the service-wide deadline applies when the call gives none, and a call can override it', async () => {
        const store = new FaultInjectingEntityStore(scope.env.store);
        const s = service({
          store,
          timeoutMs: 150,
          retry: { minTimeoutMs: 1000, maxTimeoutMs: 1000 },
        });
        const name = unique('default-deadline');
        await s.increment(name, change.seed);
        store.faults.contendNext(1);
        const { error } = await rejection(change.run(s, name, {}));
        expect(error).toBeInstanceOf(DeadlineExceededError);
        expect((error as DeadlineExceededError).context.timeoutMs).toBe(150);
        await pause(1300);
        expect(await stored(name)).toBe(change.seed);
        store.faults.contendNext(1);
        await change.run(s, name, { timeoutMs: 5000 });
        expect(await stored(name)).toBe(change.after(change.seed));
      });

      if (change.idempotent) {
        it('during its commit: AmbiguousCommitError; a retry with the same idempotency key applies it exactly once', async () => {
          const gated = new GatedEntityStore(scope.env.store);
          const s = service({ store: gated });
          const name = unique('abort-commit');
          await s.increment(name, change.seed);
          const gate = gated.holdNextCommit('ShardcountShard');
          const controller = new AbortController();
          const key = uuidv4();
          const pending = change.run(s, name, { signal: controller.signal, idempotencyKey: key });
          await gate.reached;
          controller.abort();
          const { error } = await rejection(pending);
          expect(error).toBeInstanceOf(AmbiguousCommitError);
          expect((error as AmbiguousCommitError).cause).toBeInstanceOf(OperationAbortedError);
          // The commit was in flight: here it lands after all.
          gate.release();
          await pause(200);
          expect(await stored(name)).toBe(change.after(change.seed));
          const retried = await change.run(s, name, { idempotencyKey: key });
          expect(retried.replayed).toBe(true);
          expect(await stored(name)).toBe(change.after(change.seed));
          expect((await s.getCounter(name))?.count).toBe(change.after(change.seed));
        });

        it('during its commit, when the commit never lands: the retry with the same key applies it once', async () => {
          // The gate holds the commit first; the fault layer under it then refuses it.
          const failing = new FaultInjectingEntityStore(scope.env.store);
          const gated = new GatedEntityStore(failing);
          const s = service({ store: gated });
          const name = unique('abort-commit-lost');
          await s.increment(name, change.seed);
          const gate = gated.holdNextCommit('ShardcountShard');
          const controller = new AbortController();
          const key = uuidv4();
          const pending = change.run(s, name, { signal: controller.signal, idempotencyKey: key });
          await gate.reached;
          controller.abort();
          expect((await rejection(pending)).error).toBeInstanceOf(AmbiguousCommitError);
          // This time the commit is lost (the held commit is refused when let go, and the
          // store's retry of it stops at the signal).
          failing.faults.contendNext(1);
          gate.release();
          await pause(200);
          expect(await stored(name)).toBe(change.seed);
          failing.faults.heal();
          const retried = await change.run(s, name, { idempotencyKey: key });
          expect(retried.replayed).toBe(false);
          expect(await stored(name)).toBe(change.after(change.seed));
        });
      }

      it('a signal that never aborts changes nothing', async () => {
        const s = service();
        const name = unique('never-aborts');
        await s.increment(name, change.seed);
        await change.run(s, name, { signal: new AbortController().signal, timeoutMs: 10_000 });
        expect(await stored(name)).toBe(change.after(change.seed));
        expect((await s.getCounter(name))?.count).toBe(change.after(change.seed));
      });
    });
  }

  describe(`every public method takes signal and timeoutMs on ${settings.label}`, () => {
    it('a signal aborted beforehand rejects every method with OperationAbortedError and no store call', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store });
      const name = unique('every-method');
      await s.increment(name, 5);
      store.resetCalls();
      const controller = new AbortController();
      controller.abort();
      const signal = controller.signal;
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['increment', () => s.increment(name, 1, { signal })],
        ['decrement', () => s.decrement(name, 1, { signal })],
        ['getCounter', () => s.getCounter(name, { signal })],
        ['getCounters', () => s.getCounters([name], { signal })],
        ['listCounters', () => s.listCounters({ signal })],
        ['createCounter', () => s.createCounter(unique('new'), { signal })],
        ['updateCounter', () => s.updateCounter(name, { description: 'x', signal })],
        ['reset', () => s.reset(name, { signal })],
        ['delete', () => s.delete(name, { signal })],
        ['resumeDeletions', () => s.resumeDeletions({ signal })],
        ['resumeInterrupted', () => s.resumeInterrupted({ signal })],
      ];
      for (const [method, call] of calls) {
        const { error } = await rejection(call());
        expect(error, method).toBeInstanceOf(OperationAbortedError);
      }
      expect(Object.values(store.calls).reduce((a, b) => a + b, 0)).toBe(0);
      expect(await stored(name)).toBe(5);
    });

    it('reads stop at their deadline: getCounter, getCounters and listCounters', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store });
      const name = unique('read-deadline');
      await s.increment(name, 5);
      store.faults.delay(500, { operations: ['lookup', 'query'] });
      for (const call of [
        () => s.getCounter(name, { skipCache: true, timeoutMs: 100 }),
        () => s.getCounters([name], { skipCache: true, timeoutMs: 100 }),
        () => s.listCounters({ timeoutMs: 100 }),
      ]) {
        const { error, ms } = await rejection(call());
        expect(error).toBeInstanceOf(DeadlineExceededError);
        expect(ms).toBeLessThan(400);
      }
      store.faults.heal();
      expect((await s.getCounter(name, { timeoutMs: 5000 }))?.count).toBe(5);
    });

    it("after the commit, a writer's wait for a reader's fill stops at the signal; the increment completes", async () => {
      const cache = new FaultInjectingCacheStore(scope.env.cache);
      const s = service({ cache });
      const name = unique('lease-wait');
      await s.increment(name, 5);
      // A reader takes the fill lease, then its fill hangs (slow cache writes).
      cache.faults.delay(1500, { operations: ['set'] });
      const reading = s.getCounter(name);
      await pause(100);
      const leaseWaits: number[] = [];
      const controller = new AbortController();
      let abortedAt = 0;
      s.on('retry', (e) => {
        if (e.step !== 'cacheLease') return;
        leaseWaits.push(e.attempt);
        // The commit has landed and the writer starts waiting for the fill: stop it now.
        if (abortedAt === 0) {
          abortedAt = performance.now();
          controller.abort();
        }
      });
      const op = await s.increment(name, 1, { signal: controller.signal });
      const ms = performance.now() - abortedAt;
      expect(op.appliedAmount).toBe(1);
      // Without the signal the writer would wait ~255 ms more (8 waits) for the fill.
      expect(abortedAt).toBeGreaterThan(0);
      expect(ms).toBeLessThan(120);
      expect(leaseWaits).toEqual([1]);
      cache.faults.heal();
      expect((await reading)?.count).toBeGreaterThanOrEqual(5);
      expect(await stored(name)).toBe(6);
      // The lease was removed, so the hanging fill never landed: the next read is exact.
      expect((await s.getCounter(name))?.count).toBe(6);
    });

    it('refuses a bad signal or timeoutMs before any I/O, in calls and the constructor', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store });
      const bad = [
        [{ signal: 'stop' }, 'options.signal'],
        [{ signal: null }, 'options.signal'],
        [{ timeoutMs: 0 }, 'options.timeoutMs'],
        [{ timeoutMs: 1.5 }, 'options.timeoutMs'],
        [{ timeoutMs: 2 ** 31 }, 'options.timeoutMs'],
      ] as const;
      for (const [options, argument] of bad) {
        for (const call of [
          () => s.increment('x', 1, options as never),
          () => s.decrement('x', 1, options as never),
          () => s.getCounter('x', options as never),
          () => s.reset('x', options as never),
          () => s.resumeDeletions(options as never),
        ]) {
          const { error } = await rejection(call());
          expect(error).toBeInstanceOf(InvalidArgumentError);
          expect((error as InvalidArgumentError).context.argument).toBe(argument);
        }
      }
      expect(Object.values(store.calls).reduce((a, b) => a + b, 0)).toBe(0);
      expect(() => service({ timeoutMs: 0 })).toThrow(InvalidArgumentError);
      expect(() => service({ timeoutMs: 'soon' as unknown as number })).toThrow(
        expect.objectContaining({ context: { argument: 'options.timeoutMs' } }),
      );
    });

    it('background work does not stop at the caller deadline: delete(name, { wait: false })', async () => {
      const store = new FaultInjectingEntityStore(scope.env.store);
      const s = service({ store });
      const name = unique('detached');
      await s.increment(name, 5);
      const controller = new AbortController();
      const failures: unknown[] = [];
      s.on('deletionFailed', (e) => failures.push(e.error));
      expect(await s.delete(name, { wait: false, signal: controller.signal })).toBe(true);
      controller.abort();
      await s.close();
      expect(failures).toEqual([]);
      expect(await stored(name)).toBeUndefined();
    });
  });
}
