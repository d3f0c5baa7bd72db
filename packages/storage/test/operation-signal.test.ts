import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  AmbiguousCommitError,
  abortableDelay,
  assertCallOptions,
  CALL_OPTION_FIELDS,
  DeadlineExceededError,
  defineKind,
  EVENTS_CHANNEL,
  InvalidArgumentError,
  MemoryEntityStore,
  OperationAbortedError,
  openOperationSignal,
  raceCommit,
  raceSignal,
  readOptions,
  type ShardcountEventMessage,
  TypedEvents,
  throwIfAborted,
} from '@shardcount/storage';
import { describe, expect, it } from 'vitest';

const context = { operation: 'increment', counterName: 'page-views' };

describe('openOperationSignal', () => {
  it('is undefined without a signal or a deadline, so such calls allocate nothing', () => {
    expect(openOperationSignal(undefined, undefined, context)).toBeUndefined();
    expect(openOperationSignal({}, undefined, context)).toBeUndefined();
  });

  it("aborts with an OperationAbortedError carrying the caller's reason", () => {
    const controller = new AbortController();
    const operation = openOperationSignal({ signal: controller.signal }, undefined, context)!;
    expect(operation.signal.aborted).toBe(false);
    operation.throwIfEnded();
    const reason = new Error('user left');
    controller.abort(reason);
    expect(operation.signal.aborted).toBe(true);
    const error = operation.signal.reason as OperationAbortedError;
    expect(error).toBeInstanceOf(OperationAbortedError);
    expect(error.code).toBe('ABORTED');
    expect(error.cause).toBe(reason);
    expect(error.context).toMatchObject(context);
    expect(error.message).toContain('increment of "page-views"');
    expect(() => operation.throwIfEnded()).toThrow(error);
  });

  it('is aborted from the start when the caller passes an aborted signal', () => {
    const operation = openOperationSignal({ signal: AbortSignal.abort('gone') }, 50, context)!;
    expect(operation.signal.reason).toBeInstanceOf(OperationAbortedError);
    expect((operation.signal.reason as Error).cause).toBe('gone');
  });

  it('ends with a DeadlineExceededError when timeoutMs passes, the call option before the default', async () => {
    const started = performance.now();
    const operation = openOperationSignal({ timeoutMs: 30 }, 10_000, context)!;
    await new Promise((resolve) => operation.signal.addEventListener('abort', resolve));
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    const error = operation.signal.reason as DeadlineExceededError;
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.context.timeoutMs).toBe(30);
  });

  it('uses the service-wide default deadline when the call gives none', async () => {
    const operation = openOperationSignal(undefined, 20, context)!;
    await new Promise((resolve) => operation.signal.addEventListener('abort', resolve));
    expect((operation.signal.reason as DeadlineExceededError).context.timeoutMs).toBe(20);
  });

  it('no longer ends once disposed: the timer is cleared and the caller signal detached', async () => {
    const controller = new AbortController();
    const operation = openOperationSignal(
      { signal: controller.signal, timeoutMs: 20 },
      undefined,
      context,
    )!;
    operation.dispose();
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(operation.signal.aborted).toBe(false);
  });
});

describe('OperationSignal.race, raceCommit, onEnd', () => {
  it('race settles like the promise, or rejects with the typed reason when the operation ends', async () => {
    const controller = new AbortController();
    const operation = openOperationSignal({ signal: controller.signal }, undefined, context)!;
    await expect(operation.race(Promise.resolve(5))).resolves.toBe(5);
    const raced = operation.race(new Promise<number>(() => undefined));
    expect(operation.ended).toBe(false);
    expect(operation.reason).toBeUndefined();
    controller.abort(new Error('left'));
    const error = await raced.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationAbortedError);
    expect(operation.ended).toBe(true);
    expect(operation.reason).toBe(error);
    await expect(operation.race(Promise.resolve(1))).rejects.toBe(error);
  });

  it('raceCommit turns the end during a commit into AmbiguousCommitError with the typed cause', async () => {
    const operation = openOperationSignal({ timeoutMs: 10 }, undefined, context)!;
    const error = (await operation
      .raceCommit(new Promise(() => undefined))
      .catch((e: unknown) => e)) as AmbiguousCommitError;
    expect(error).toBeInstanceOf(AmbiguousCommitError);
    expect(error.cause).toBeInstanceOf(DeadlineExceededError);
    expect(error.context).toMatchObject(context);
  });

  it('onEnd calls back once on the end, not after stopping; the AbortSignal made late is already aborted', async () => {
    const controller = new AbortController();
    const operation = openOperationSignal({ signal: controller.signal }, undefined, context)!;
    const calls: string[] = [];
    operation.onEnd(() => calls.push('kept'));
    const stop = operation.onEnd(() => calls.push('stopped'));
    stop();
    controller.abort();
    controller.abort();
    expect(calls).toEqual(['kept']);
    const late = operation.signal;
    expect(late.aborted).toBe(true);
    expect(late.reason).toBe(operation.reason);
  });

  it('an AbortSignal taken before the end aborts with the typed reason', () => {
    const controller = new AbortController();
    const operation = openOperationSignal({ signal: controller.signal }, undefined, context)!;
    const early = operation.signal;
    expect(operation.signal).toBe(early);
    controller.abort();
    expect(early.aborted).toBe(true);
    expect(early.reason).toBeInstanceOf(OperationAbortedError);
  });
});

describe('raceSignal, raceCommit, abortableDelay', () => {
  it('raceSignal settles like the promise without a signal or when the promise wins', async () => {
    await expect(raceSignal(Promise.resolve(1), undefined)).resolves.toBe(1);
    const controller = new AbortController();
    await expect(raceSignal(Promise.resolve(2), controller.signal)).resolves.toBe(2);
    await expect(raceSignal(Promise.reject(new Error('x')), controller.signal)).rejects.toThrow(
      'x',
    );
  });

  it('raceSignal rejects with the typed error as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    const raced = raceSignal(never, controller.signal, context);
    controller.abort(new Error('stop'));
    const error = await raced.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationAbortedError);
    expect((error as Error).cause).toEqual(new Error('stop'));
  });

  it('raceSignal keeps a DeadlineExceededError reason as it is', async () => {
    const operation = openOperationSignal({ timeoutMs: 10 }, undefined, context)!;
    const error = await raceSignal(new Promise(() => undefined), operation.signal).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeadlineExceededError);
  });

  it('raceCommit turns an abort during the commit into an AmbiguousCommitError', async () => {
    const controller = new AbortController();
    let commit!: (value: string) => void;
    const pending = new Promise<string>((resolve) => {
      commit = resolve;
    });
    const raced = raceCommit(pending, controller.signal, context);
    controller.abort('late');
    const error = (await raced.catch((e: unknown) => e)) as AmbiguousCommitError;
    expect(error).toBeInstanceOf(AmbiguousCommitError);
    expect(error.code).toBe('AMBIGUOUS_COMMIT');
    expect(error.cause).toBeInstanceOf(OperationAbortedError);
    commit('applied anyway');
  });

  it('abortableDelay waits its time, or stops at the abort', async () => {
    const started = performance.now();
    await abortableDelay(20, new AbortController().signal);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    const controller = new AbortController();
    const waiting = abortableDelay(10_000, controller.signal, context);
    setTimeout(() => controller.abort(), 10);
    const stoppedAt = performance.now();
    await expect(waiting).rejects.toBeInstanceOf(OperationAbortedError);
    expect(performance.now() - stoppedAt).toBeLessThan(5_000);
    await expect(abortableDelay(10, AbortSignal.abort())).rejects.toBeInstanceOf(
      OperationAbortedError,
    );
  });

  it('throwIfAborted throws the typed error only for an aborted signal', () => {
    throwIfAborted(undefined);
    throwIfAborted(new AbortController().signal);
    expect(() => throwIfAborted(AbortSignal.abort(), context)).toThrow(OperationAbortedError);
  });
});

describe('assertCallOptions', () => {
  const check = (options: unknown): void => {
    const fields = readOptions(options, 'options', CALL_OPTION_FIELDS);
    assertCallOptions(fields, 'options');
  };

  it('accepts an AbortSignal and a whole positive timeoutMs', () => {
    check({ signal: new AbortController().signal, timeoutMs: 1 });
    check({ timeoutMs: 2 ** 31 - 1 });
    check(undefined);
  });

  it.each([
    [{ signal: {} }, 'options.signal'],
    [{ signal: null }, 'options.signal'],
    [{ timeoutMs: 0 }, 'options.timeoutMs'],
    [{ timeoutMs: 1.5 }, 'options.timeoutMs'],
    [{ timeoutMs: 2 ** 31 }, 'options.timeoutMs'],
    [{ timeoutMs: '100' }, 'options.timeoutMs'],
    [{ deadline: 5 }, 'options.deadline'],
  ])('refuses %j naming %s', (options, argument) => {
    let error: unknown;
    try {
      check(options);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).context.argument).toBe(argument);
  });
});

describe('TypedEvents', () => {
  interface Events {
    moved: { readonly counterName: string; readonly amount: number };
  }

  it('calls listeners, ignores one that throws, and stops after off()', () => {
    const events = new TypedEvents<Events>('pingpong');
    const seen: number[] = [];
    events.on('moved', () => {
      throw new Error('broken metrics hook');
    });
    const off = events.on('moved', (event) => seen.push(event.amount));
    expect(events.hasListeners('moved')).toBe(true);
    events.emit('moved', { counterName: 'a', amount: 3 }, 'a', 3);
    off();
    events.emit('moved', { counterName: 'a', amount: 4 }, 'a', 4);
    expect(seen).toEqual([3]);
  });

  it('publishes each event on the shardcount:events channel with its package, subject and count', () => {
    const events = new TypedEvents<Events>('pingpong');
    const published: ShardcountEventMessage[] = [];
    const listener = (message: unknown): void => {
      published.push(message as ShardcountEventMessage);
    };
    subscribe(EVENTS_CHANNEL, listener);
    try {
      events.emit('moved', { counterName: 'a', amount: 7 }, 'a', 7);
    } finally {
      unsubscribe(EVENTS_CHANNEL, listener);
    }
    expect(published).toEqual([{ package: 'pingpong', event: 'moved', subject: 'a', count: 7 }]);
  });
});

describe('one caller signal shared by many calls', () => {
  async function warningsDuring(work: () => Promise<void>): Promise<string[]> {
    const warnings: string[] = [];
    const listener = (warning: Error): void => {
      warnings.push(`${warning.name}: ${warning.message}`);
    };
    process.on('warning', listener);
    try {
      await work();
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    return warnings;
  }

  it('200 operations on one signal add one native listener, warn nothing, and all end on its abort', async () => {
    const controller = new AbortController();
    const warnings = await warningsDuring(async () => {
      const operations = Array.from(
        { length: 200 },
        () => openOperationSignal({ signal: controller.signal }, undefined, context)!,
      );
      const raced = operations.map((operation) =>
        raceSignal(new Promise(() => undefined), operation.signal).catch((e: unknown) => e),
      );
      const delays = Array.from({ length: 50 }, () =>
        abortableDelay(60_000, controller.signal).catch((e: unknown) => e),
      );
      controller.abort(new Error('request closed'));
      for (const error of [...(await Promise.all(raced)), ...(await Promise.all(delays))]) {
        expect(error).toBeInstanceOf(OperationAbortedError);
      }
      for (const operation of operations) operation.dispose();
    });
    expect(warnings).toEqual([]);
  });

  it('50 concurrent transactions on one signal warn nothing and all stop at its abort', async () => {
    const store = new MemoryEntityStore();
    const Item = defineKind<{ n: number }>('Item');
    const controller = new AbortController();
    const warnings = await warningsDuring(async () => {
      let entered = 0;
      let allIn!: () => void;
      const allEntered = new Promise<void>((resolve) => {
        allIn = resolve;
      });
      const runs = Array.from({ length: 50 }, (_, i) =>
        store
          .transact(
            async () => {
              await store.load(Item.key(`i${i}`));
              if (++entered === 50) allIn();
              await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
              await store.save(Item.key(`i${i}`), { n: i });
            },
            { signal: controller.signal },
          )
          .catch((e: unknown) => e),
      );
      await allEntered;
      controller.abort();
      for (const error of await Promise.all(runs)) {
        expect(error).toBeInstanceOf(OperationAbortedError);
      }
    });
    expect(warnings).toEqual([]);
    expect(await store.loadMany(Array.from({ length: 50 }, (_, i) => Item.key(`i${i}`)))).toEqual(
      Array.from({ length: 50 }, () => undefined),
    );
  });
});
