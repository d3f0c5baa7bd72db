import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { defineKind, type Kind } from '../entity/key.js';
import {
  ContentionError,
  DeadlineExceededError,
  InvalidArgumentError,
  OperationAbortedError,
} from '../errors/index.js';
import type { ContractTest } from './entity-listing-contract.js';

interface Item {
  n: number;
}

const freshKind = (): Kind<Item> => defineKind<Item>(`Cancel_${randomUUID().slice(0, 8)}`);

/** An already-aborted signal whose reason is a plain `Error`, as a caller's own would be. */
function abortedSignal(reason: unknown = new Error('caller gave up')): AbortSignal {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
}

/** Checks that `error` is the abort error for a caller's plain `reason`. */
function isAbortFor(reason: unknown): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof OperationAbortedError, `not an OperationAbortedError: ${error}`);
    assert.equal(error.code, 'ABORTED');
    assert.equal(error.cause, reason);
    return true;
  };
}

/**
 * The cancellation part of the `EntityStore` contract that needs no fault injection:
 * `signal` on every method and on `transact`, aborted before the call, during `work`,
 * during the backoff after contention; the transaction's signal reaching the calls `work`
 * makes; nothing written each time. (An abort while a commit is in flight needs a held
 * commit: `FaultInjectingEntityStore.faults.holdNext`, tested per adapter.)
 */
export function registerCancellationContract(it: ContractTest): void {
  it('every call with an aborted signal rejects with the abort error and writes nothing', async (store) => {
    const kind = freshKind();
    const k = kind.key('a');
    await store.save(k, { n: 1 });
    const reason = new Error('caller gave up');
    const signal = abortedSignal(reason);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['load', () => store.load(k, { signal })],
      ['loadMany', () => store.loadMany([k], { signal })],
      ['query', () => store.query(kind, { signal })],
      ['save', () => store.save(k, { n: 2 }, { signal })],
      ['saveMany', () => store.saveMany([{ key: kind.key('b'), entity: { n: 2 } }], { signal })],
      ['delete', () => store.delete(k, { signal })],
      ['deleteMany', () => store.deleteMany([k], { signal })],
      ['transact', () => store.transact(async () => store.save(k, { n: 3 }), { signal })],
      ['transactNew', () => store.transactNew(async () => store.save(k, { n: 4 }), { signal })],
    ];
    for (const [name, call] of calls) {
      await assert.rejects(call(), isAbortFor(reason), name);
    }
    assert.deepEqual(await store.loadMany([k, kind.key('b')]), [{ n: 1 }, undefined]);
  });

  it('a typed reason (OperationAbortedError, DeadlineExceededError) is rejected as it is', async (store) => {
    const k = freshKind().key('a');
    const deadline = new DeadlineExceededError('deadline', { context: { timeoutMs: 5 } });
    const aborted = new OperationAbortedError('aborted');
    for (const reason of [deadline, aborted]) {
      const signal = abortedSignal(reason);
      await assert.rejects(store.load(k, { signal }), (error) => error === reason);
      await assert.rejects(
        store.transact(async () => store.save(k, { n: 1 }), { signal }),
        (error) => error === reason,
      );
    }
    assert.equal(await store.load(k), undefined);
  });

  it('a signal that is already aborted: work never runs', async (store) => {
    let ran = 0;
    await assert.rejects(
      store.transact(
        async () => {
          ran += 1;
        },
        { signal: abortedSignal() },
      ),
      OperationAbortedError,
    );
    assert.equal(ran, 0);
  });

  it('aborting while work runs rolls back at once; later calls of work fail with the abort', async (store) => {
    const kind = freshKind();
    const controller = new AbortController();
    const reason = new Error('stop');
    let late: Promise<unknown> | undefined;
    let proceed!: () => void;
    const waiting = new Promise<void>((resolve) => {
      proceed = resolve;
    });
    const running = store.transact(
      async () => {
        await store.save(kind.key('early'), { n: 1 });
        await waiting; // work waits for something that is not the store
        late = store.save(kind.key('late'), { n: 2 }).catch((error: unknown) => error);
      },
      { signal: controller.signal },
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort(reason);
    await assert.rejects(running, isAbortFor(reason));
    proceed();
    await new Promise((resolve) => setTimeout(resolve, 20));
    isAbortFor(reason)(await late);
    assert.deepEqual(await store.loadMany([kind.key('early'), kind.key('late')]), [
      undefined,
      undefined,
    ]);
  });

  it("the calls work makes run under the transaction's signal without being given it", async (store) => {
    const kind = freshKind();
    const k = kind.key('a');
    await store.save(k, { n: 1 });
    const controller = new AbortController();
    const reason = new Error('stop');
    const seen: unknown[] = [];
    let finished!: () => void;
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const running = store.transact(
      async () => {
        assert.deepEqual(await store.load(k), { n: 1 });
        controller.abort(reason);
        // Each call is made after the abort and must see it, with no signal passed.
        seen.push(await store.load(k).catch((error: unknown) => error));
        seen.push(await store.loadMany([k]).catch((error: unknown) => error));
        seen.push(await store.query(kind).catch((error: unknown) => error));
        finished();
      },
      { signal: controller.signal },
    );
    await assert.rejects(running, isAbortFor(reason));
    await done;
    assert.equal(seen.length, 3);
    for (const error of seen) isAbortFor(reason)(error);
    assert.deepEqual(await store.load(k), { n: 1 });
  });

  it('transactNew inside work inherits the signal; transactionless work does not', async (store) => {
    const kind = freshKind();
    const controller = new AbortController();
    const reason = new Error('stop');
    let report!: (seen: unknown[]) => void;
    const reported = new Promise<unknown[]>((resolve) => {
      report = resolve;
    });
    const running = store.transact(
      async () => {
        controller.abort(reason);
        const inner = await store
          .transactNew(async () => store.save(kind.key('inner'), { n: 1 }))
          .catch((error: unknown) => error);
        const outside = await store.transactionless(async () => {
          await store.save(kind.key('outside'), { n: 2 });
          return store.load(kind.key('outside'));
        });
        report([inner, outside]);
      },
      { signal: controller.signal },
    );
    await assert.rejects(running, isAbortFor(reason));
    const [inner, outside] = await reported;
    isAbortFor(reason)(inner);
    assert.deepEqual(outside, { n: 2 });
    assert.deepEqual(await store.loadMany([kind.key('inner'), kind.key('outside')]), [
      undefined,
      { n: 2 },
    ]);
  });

  it('aborting during the backoff after contention stops the retries at once', async (store) => {
    const kind = freshKind();
    const k = kind.key('race');
    await store.save(k, { n: 0 });
    const controller = new AbortController();
    const reason = new Error('stop waiting');
    let attempts = 0;
    const started = Date.now();
    await assert.rejects(
      store.transact(
        async () => {
          attempts += 1;
          const current = await store.load(k);
          // Another writer gets in first: this attempt loses the race at its commit.
          await store.transactNew(async () => store.save(k, { n: current!.n + 100 }));
          await store.save(kind.key('side'), { n: 1 });
          await store.save(k, { n: current!.n + 1 });
        },
        {
          // A backoff this long only ends early through the signal.
          retry: { retries: 5, minTimeoutMs: 600_000, maxTimeoutMs: 600_000 },
          onRetry: () => setTimeout(() => controller.abort(reason), 10),
          signal: controller.signal,
        },
      ),
      isAbortFor(reason),
    );
    assert.equal(attempts, 1);
    assert.ok(Date.now() - started < 60_000, 'the backoff did not stop');
    assert.deepEqual(await store.load(k), { n: 100 });
    assert.equal(await store.load(kind.key('side')), undefined);
  });

  it('with a signal that never fires, contention past the budget is still ContentionError', async (store) => {
    const kind = freshKind();
    const k = kind.key('race');
    await store.save(k, { n: 0 });
    const controller = new AbortController();
    await assert.rejects(
      store.transact(
        async () => {
          const current = await store.load(k);
          await store.transactNew(async () => store.save(k, { n: current!.n + 100 }));
          await store.save(k, { n: current!.n + 1 });
        },
        { retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 2 }, signal: controller.signal },
      ),
      ContentionError,
    );
    assert.deepEqual(await store.load(k), { n: 300 });
    // And a transaction with a signal that is never aborted commits as usual.
    await store.transact(async () => store.save(kind.key('ok'), { n: 1 }), {
      signal: controller.signal,
    });
    assert.deepEqual(await store.load(kind.key('ok')), { n: 1 });
  });

  it('refuses a signal that is not an AbortSignal, naming the argument', async (store) => {
    const kind = freshKind();
    const k = kind.key('a');
    const refuses = async (call: () => Promise<unknown>, argument: string): Promise<void> => {
      await assert.rejects(call, (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError, `${argument}: ${String(error)}`);
        assert.equal(error.context.argument, argument);
        return true;
      });
    };
    const loose = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const call =
      (method: string, ...args: unknown[]) =>
      (): Promise<unknown> =>
        loose[method]!.call(store, ...args);
    const bad = { signal: 'stop' };
    await refuses(call('load', k, bad), 'options.signal');
    await refuses(call('loadMany', [k], bad), 'options.signal');
    await refuses(call('save', k, { n: 1 }, bad), 'options.signal');
    await refuses(call('saveMany', [], bad), 'options.signal');
    await refuses(call('delete', k, bad), 'options.signal');
    await refuses(call('deleteMany', [k], bad), 'options.signal');
    await refuses(call('query', kind, bad), 'options.signal');
    await refuses(
      call('transact', async () => {}, bad),
      'options.signal',
    );
    await refuses(
      call('transactNew', async () => {}, bad),
      'options.signal',
    );
    await refuses(call('load', k, { sigal: new AbortController().signal }), 'options.sigal');
    await refuses(call('save', k, { n: 1 }, null), 'options');
    assert.equal(await store.load(k), undefined);
  });
}
