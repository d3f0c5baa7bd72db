import {
  AmbiguousCommitError,
  DeadlineExceededError,
  InvalidArgumentError,
  MemoryCacheStore,
  OperationAbortedError,
} from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { describe, expect, test } from 'vitest';
import { type LoadContext, LocalCache, type LocalCacheOptions } from '../src/index.js';
import { gate, settle } from './helpers/sync.js';

/** A cache over a fault-injecting memory store (delays stand in for a slow memcached). */
function cacheOver(options: Omit<LocalCacheOptions, 'cache'> = {}) {
  const tags = new FaultInjectingCacheStore(new MemoryCacheStore());
  return { tags, cache: new LocalCache<string>({ cache: tags, ...options }) };
}

const value = async (key: string): Promise<string> => `${key}-value`;

/** A provider held until the test opens it, recording the context it received. */
function heldProvider() {
  const held = gate<string>();
  const contexts: LoadContext[] = [];
  let calls = 0;
  const provider = (_key: string, context: LoadContext): Promise<string> => {
    calls += 1;
    contexts.push(context);
    return held.promise;
  };
  return {
    held,
    contexts,
    provider,
    get calls() {
      return calls;
    },
  };
}

describe('signal and timeoutMs', () => {
  test('an aborted signal rejects every method before any cache call or provider call', async () => {
    const { tags, cache } = cacheOver();
    await cache.get('k', value);
    const before = { ...tags.calls };
    const reason = new Error('caller left');
    const signal = AbortSignal.abort(reason);
    let loads = 0;
    const provider = async (key: string) => {
      loads += 1;
      return key;
    };
    for (const call of [
      () => cache.get('k', provider, { signal }),
      () => cache.getMany(['k', 'j'], async () => new Map(), { signal }),
      () => cache.invalidate('k', { signal }),
      () => cache.invalidateMany(['k'], { signal }),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OperationAbortedError);
      expect((error as OperationAbortedError).code).toBe('ABORTED');
      expect((error as OperationAbortedError).cause).toBe(reason);
    }
    expect(tags.calls).toEqual(before);
    expect(loads).toBe(0);
    // The aborted invalidate dropped nothing.
    expect(cache.peek('k')?.value).toBe('k-value');
  });

  test('abort during a slow tag check rejects at once; the provider is never called', async () => {
    const { tags, cache } = cacheOver();
    await cache.get('k', value);
    tags.faults.delay(5_000, { operations: ['get'] });
    const controller = new AbortController();
    const started = performance.now();
    const read = cache.get('k', value, { signal: controller.signal });
    await settle();
    controller.abort('gone');
    const error = await read.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationAbortedError);
    expect((error as Error).cause).toBe('gone');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(cache.stats()).toMatchObject({ loads: 1, errors: 0 });
  });

  test('a deadline passing during the tag check is DeadlineExceededError with its timeoutMs', async () => {
    const { tags, cache } = cacheOver();
    tags.faults.delay(5_000, { operations: ['get', 'getMany'] });
    const error = await cache.get('k', value, { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).code).toBe('DEADLINE_EXCEEDED');
    expect((error as DeadlineExceededError).context).toMatchObject({ timeoutMs: 30, key: 'k' });
    await expect(
      cache.getMany(['a', 'b'], async () => new Map(), { timeoutMs: 30 }),
    ).rejects.toBeInstanceOf(DeadlineExceededError);
  }, 10_000);

  test('the constructor timeoutMs is every call’s default; a call’s own timeoutMs wins', async () => {
    const { tags, cache } = cacheOver({ timeoutMs: 30 });
    tags.faults.delay(150, { operations: ['get', 'add'] });
    await expect(cache.get('k', value)).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(await cache.get('k', value, { timeoutMs: 5_000 })).toBe('k-value');
    tags.faults.delay(150, { operations: ['set'] });
    await expect(cache.invalidate('k')).rejects.toBeInstanceOf(AmbiguousCommitError);
  });

  test('abort during a load rejects the caller and aborts the provider’s signal (sole waiter)', async () => {
    const { cache } = cacheOver();
    const source = heldProvider();
    const controller = new AbortController();
    const read = cache.get('k', source.provider, { signal: controller.signal });
    await settle();
    expect(source.calls).toBe(1);
    expect(source.contexts[0]?.signal.aborted).toBe(false);
    controller.abort('gone');
    const error = await read.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationAbortedError);
    expect(source.contexts[0]?.signal.aborted).toBe(true);
    expect(source.contexts[0]?.signal.reason).toBe(error);
    // An abandoned load is not offered to new reads: the next get starts its own.
    const next = cache.get('k', value);
    expect(await next).toBe('k-value');
    source.held.open('late');
    await settle();
    expect(cache.stats().loads).toBe(2);
  });

  test('one waiter aborting does not cancel the shared load: the other gets the value', async () => {
    const { cache } = cacheOver();
    const source = heldProvider();
    const leaving = new AbortController();
    const first = cache.get('k', source.provider, { signal: leaving.signal });
    await settle();
    const second = cache.get('k', source.provider);
    await settle();
    leaving.abort();
    await expect(first).rejects.toBeInstanceOf(OperationAbortedError);
    expect(source.contexts[0]?.signal.aborted).toBe(false);
    source.held.open('v');
    expect(await second).toBe('v');
    expect(source.calls).toBe(1);
    // The value was cached for later reads.
    expect(await cache.get('k', value)).toBe('v');
    expect(cache.stats()).toMatchObject({ loads: 1, misses: 2, hits: 1 });
  });

  test('the provider’s signal aborts only when the last waiter gives up', async () => {
    const { cache } = cacheOver();
    const source = heldProvider();
    const a = new AbortController();
    const b = new AbortController();
    const first = cache.get('k', source.provider, { signal: a.signal });
    await settle();
    const second = cache.get('k', source.provider, { timeoutMs: 40 });
    await settle();
    a.abort();
    await expect(first).rejects.toBeInstanceOf(OperationAbortedError);
    expect(source.contexts[0]?.signal.aborted).toBe(false);
    await expect(second).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(source.contexts[0]?.signal.aborted).toBe(true);
    expect(source.contexts[0]?.signal.reason).toBeInstanceOf(DeadlineExceededError);
    b.abort();
  });

  test('getMany: a deadline during its batch load rejects it; the load finishes for a joined get', async () => {
    const { cache } = cacheOver();
    const held = gate<Map<string, string>>();
    let signal: AbortSignal | undefined;
    const many = cache.getMany(
      ['a', 'b'],
      (_keys, context) => {
        signal = context.signal;
        return held.promise;
      },
      { timeoutMs: 30 },
    );
    await settle();
    const joined = cache.get('b', value);
    await expect(many).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(signal?.aborted).toBe(false);
    held.open(
      new Map([
        ['a', 'A'],
        ['b', 'B'],
      ]),
    );
    expect(await joined).toBe('B');
    expect(cache.peek('a')?.value).toBe('A');
  });

  test('abort while the tag write is in flight: AmbiguousCommitError, and the tag still lands', async () => {
    const tags = new FaultInjectingCacheStore(new MemoryCacheStore());
    const cache = new LocalCache<string>({ cache: tags });
    const other = new LocalCache<string>({ cache: tags });
    await other.get('k', value);
    const invalidated: string[][] = [];
    cache.on('invalidated', ({ keys }) => invalidated.push([...keys]));
    tags.faults.delay(100, { operations: ['set'] });
    const controller = new AbortController();
    const call = cache.invalidate('k', { signal: controller.signal });
    await settle();
    controller.abort('gone');
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AmbiguousCommitError);
    expect((error as Error).cause).toBeInstanceOf(OperationAbortedError);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(invalidated).toEqual([['k']]);
    let reloaded = false;
    await other.get('k', async () => {
      reloaded = true;
      return 'fresh';
    });
    expect(reloaded).toBe(true);
  });

  test('bad options are InvalidArgumentError naming the field, before anything runs', async () => {
    const { tags, cache } = cacheOver();
    const cases: [() => Promise<unknown>, string][] = [
      [() => cache.get('k', value, { signal: 'x' as unknown as AbortSignal }), 'options.signal'],
      [() => cache.get('k', value, { timeoutMs: 0 }), 'options.timeoutMs'],
      [() => cache.get('k', value, { timeoutMs: 2 ** 31 }), 'options.timeoutMs'],
      [() => cache.get('k', value, { deadline: 5 } as never), 'options.deadline'],
      [() => cache.get('k', value, null as never), 'options'],
      [() => cache.getMany(['k'], async () => new Map(), { timeoutMs: 1.5 }), 'options.timeoutMs'],
      [() => cache.invalidate('k', { signal: {} as AbortSignal }), 'options.signal'],
      [() => cache.invalidateMany(['k'], 'x' as never), 'options'],
    ];
    for (const [call, argument] of cases) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).context.argument).toBe(argument);
    }
    expect(tags.calls).toMatchObject({ get: 0, getMany: 0, add: 0, set: 0 });
    expect(() => new LocalCache({ cache: tags, timeoutMs: 0 })).toThrow(InvalidArgumentError);
  });

  test('the provider receives a signal even without options; it never aborts then', async () => {
    const { cache } = cacheOver();
    let received: AbortSignal | undefined;
    await cache.get('k', async (_key, { signal }) => {
      received = signal;
      return 'v';
    });
    expect(received).toBeInstanceOf(AbortSignal);
    expect(received?.aborted).toBe(false);
  });
});
