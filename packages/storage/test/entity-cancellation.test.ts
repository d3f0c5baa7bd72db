import { randomUUID } from 'node:crypto';
import { realEntityStore } from '@shardcount/test-services';
import { describe, expect, it } from 'vitest';
import {
  AmbiguousCommitError,
  type BackendEntityStore,
  ContentionError,
  defineKind,
  MemoryEntityStore,
  OperationAbortedError,
} from '../src/index.js';
import { FaultInjectingEntityStore } from '../src/testing/index.js';

interface Item {
  n: number;
}

const freshKind = () => defineKind<Item>(`Abort_${randomUUID().slice(0, 8)}`);

/** Asserts `error` is the abort error for a caller's plain `reason`. */
function expectAbortFor(error: unknown, reason: unknown): void {
  expect(error).toBeInstanceOf(OperationAbortedError);
  expect((error as OperationAbortedError).code).toBe('ABORTED');
  expect((error as OperationAbortedError).cause).toBe(reason);
}

const backends: Array<[string, () => BackendEntityStore]> = [
  ['memory', () => new MemoryEntityStore()],
  ['Datastore emulator', () => realEntityStore()],
];

// Each stage of a transaction, aborted on the embedded store and on the emulator, with the
// fault-injecting wrapper holding or slowing the backend call the abort must interrupt.
describe.each(backends)('EntityStore cancellation at each stage (%s)', (_name, create) => {
  const withStore = async (
    body: (store: FaultInjectingEntityStore, inner: BackendEntityStore) => Promise<void>,
  ): Promise<void> => {
    const inner = create();
    try {
      await body(new FaultInjectingEntityStore(inner), inner);
    } finally {
      await inner.close();
    }
  };

  it('aborted before the first attempt: no backend call at all', async () => {
    await withStore(async (store) => {
      const controller = new AbortController();
      const reason = new Error('gone');
      controller.abort(reason);
      const k = freshKind().key('a');
      const error = await store
        .transact(async () => store.save(k, { n: 1 }), { signal: controller.signal })
        .catch((e: unknown) => e);
      expectAbortFor(error, reason);
      expect(store.calls).toEqual({
        beginTransaction: 0,
        lookup: 0,
        commit: 0,
        rollback: 0,
        query: 0,
      });
    });
  });

  it('aborted during a read: the read is dropped in flight, the attempt rolled back', async () => {
    await withStore(async (store) => {
      const kind = freshKind();
      const k = kind.key('a');
      await store.save(k, { n: 1 });
      store.resetCalls();
      store.faults.delay(400, { operations: ['lookup', 'query'] });
      const controller = new AbortController();
      const reason = new Error('gone');
      setTimeout(() => controller.abort(reason), 30);
      const error = await store
        .transact(
          async () => {
            const current = await store.load(k);
            await store.save(k, { n: (current?.n ?? 0) + 1 });
          },
          { signal: controller.signal },
        )
        .catch((e: unknown) => e);
      expectAbortFor(error, reason);
      // The delayed lookup had not reached the store yet when transact gave up.
      expect(store.calls.lookup).toBe(0);
      expect(store.calls.commit).toBe(0);
      // The same for reads outside a transaction.
      const outside = new AbortController();
      setTimeout(() => outside.abort(reason), 30);
      expectAbortFor(await store.load(k, { signal: outside.signal }).catch((e) => e), reason);
      const listing = new AbortController();
      setTimeout(() => listing.abort(reason), 30);
      expectAbortFor(await store.query(kind, { signal: listing.signal }).catch((e) => e), reason);
      store.faults.heal();
      expect(await store.load(k)).toEqual({ n: 1 });
    });
  });

  it('aborted during the backoff after contention: no further attempt', async () => {
    await withStore(async (store) => {
      const kind = freshKind();
      store.faults.contendNext(5);
      const controller = new AbortController();
      const reason = new Error('gone');
      let attempts = 0;
      let retries = 0;
      const error = await store
        .transact(
          async () => {
            attempts += 1;
            await store.load(kind.key('a'));
            await store.save(kind.key('a'), { n: attempts });
          },
          {
            retry: { retries: 5, minTimeoutMs: 600_000, maxTimeoutMs: 600_000 },
            onRetry: () => {
              retries += 1;
              setTimeout(() => controller.abort(reason), 20);
            },
            signal: controller.signal,
          },
        )
        .catch((e: unknown) => e);
      expectAbortFor(error, reason);
      expect({ attempts, retries }).toEqual({ attempts: 1, retries: 1 });
      store.faults.heal();
      expect(await store.load(kind.key('a'))).toBeUndefined();
    });
  });

  it('aborted while the commit is in flight: AmbiguousCommitError whose cause is the abort', async () => {
    await withStore(async (store) => {
      const kind = freshKind();
      const k = kind.key('a');
      await store.save(k, { n: 1 });
      const held = store.faults.holdNext({ operations: ['commit'] });
      const controller = new AbortController();
      const reason = new Error('gone');
      const running = store
        .transact(
          async () => {
            const current = await store.load(k);
            await store.save(k, { n: (current?.n ?? 0) + 1 });
          },
          { signal: controller.signal },
        )
        .catch((e: unknown) => e);
      await held.reached;
      controller.abort(reason);
      const error = await running;
      expect(error).toBeInstanceOf(AmbiguousCommitError);
      expectAbortFor((error as AmbiguousCommitError).cause, reason);
      // Ambiguous indeed: the commit the caller gave up on still goes through when it can.
      held.release();
      await held.settled;
      expect(await store.load(k)).toEqual({ n: 2 });
    });
  });

  it('a write outside a transaction: abort before → nothing written; in flight → ambiguous, later commits never sent', async () => {
    await withStore(async (store) => {
      const kind = freshKind();
      const controller = new AbortController();
      const reason = new Error('gone');
      const small = new FaultInjectingEntityStore(store, { limits: { maxMutationsPerCommit: 2 } });
      const held = small.faults.holdNext({ operations: ['commit'] });
      const keys = ['a', 'b', 'c', 'd', 'e'].map((name) => kind.key(name));
      const running = small
        .saveMany(
          keys.map((key, n) => ({ key, entity: { n } })),
          { signal: controller.signal },
        )
        .catch((e: unknown) => e);
      await held.reached;
      controller.abort(reason);
      const error = await running;
      expect(error).toBeInstanceOf(AmbiguousCommitError);
      expectAbortFor((error as AmbiguousCommitError).cause, reason);
      held.release();
      await held.settled;
      expect(small.calls.commit).toBe(1);
      expect(await store.loadMany(keys)).toEqual([
        { n: 0 },
        { n: 1 },
        undefined,
        undefined,
        undefined,
      ]);
      expectAbortFor(
        await small.deleteMany(keys, { signal: controller.signal }).catch((e) => e),
        reason,
      );
      expect(small.calls.commit).toBe(1);
    });
  });

  it('retries run out with ContentionError when the signal never fires', async () => {
    await withStore(async (store) => {
      const kind = freshKind();
      store.faults.contendNext(3);
      let attempts = 0;
      const error = await store
        .transact(
          async () => {
            attempts += 1;
            await store.save(kind.key('a'), { n: attempts });
          },
          {
            retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 2 },
            signal: new AbortController().signal,
          },
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContentionError);
      expect(attempts).toBe(3);
      expect(await store.load(kind.key('a'))).toBeUndefined();
    });
  });
});
