import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type MemcachedServer, realCacheStore, startMemcached } from '@shardcount/test-services';
import memjs from 'memjs';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { CacheValue, CasToken } from '../src/cache/cache-store.js';
import { MemcachedCacheStore } from '../src/cache/memcached-cache-store.js';
import { toMemcachedKey } from '../src/cache/memcached-key.js';
import {
  AmbiguousCommitError,
  CacheUnavailableError,
  InvalidArgumentError,
  OperationAbortedError,
  OutOfRangeError,
} from '../src/errors/index.js';
import { FaultInjectingCacheStore } from '../src/testing/index.js';

const silent = { log(): void {} };

/** A raw memjs client on the shared server, to look at what the store really wrote. */
function rawClient(address: string): memjs.Client {
  return memjs.Client.create(address, { logger: silent, retries: 1 });
}

/** Retries `work` until it succeeds: the first calls after a restart may still fail. */
async function eventually<T>(work: () => Promise<T>, attempts = 20): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await sleep(100);
    }
  }
}

/** Open TCP sockets of this process. */
function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
}

describe('MemcachedCacheStore on the shared memcached', () => {
  const address = inject('memcachedAddress');
  let cache: MemcachedCacheStore;
  let raw: memjs.Client;
  const prefix = `mcs:${randomUUID()}:`;
  const k = (suffix = 'k'): string => prefix + suffix;

  beforeAll(() => {
    cache = realCacheStore();
    raw = rawClient(address);
  });
  afterAll(async () => {
    await cache.close();
    raw.close();
  });

  it('realCacheStore gives a MemcachedCacheStore with the default timeout', () => {
    expect(cache).toBeInstanceOf(MemcachedCacheStore);
    expect(cache.timeoutMs).toBe(500);
    expect(cache.failFastMs).toBe(1000);
    const other = realCacheStore({ timeoutMs: 1234 });
    expect(other.timeoutMs).toBe(1234);
    return other.close();
  });

  it('set, get, delete round-trip JSON values stored as JSON text', async () => {
    const value = { name: 'x', list: [1, 2.5, 'three', null, true] };
    await cache.set(k('json'), value);
    expect(await cache.get(k('json'))).toEqual(value);
    expect((await raw.get(k('json'))).value?.toString()).toBe(JSON.stringify(value));
    await cache.set(k('int'), 42);
    expect((await raw.get(k('int'))).value?.toString()).toBe('42');
    expect(await cache.delete(k('json'))).toBe(true);
    expect(await cache.delete(k('json'))).toBe(false);
    expect(await cache.get(k('json'))).toBeUndefined();
  });

  it('getMany returns found keys under the caller’s keys, mapped ones included', async () => {
    const keys = [k('plain'), k('with space'), k(`long-${'y'.repeat(300)}`), k('missing')];
    await cache.set(keys[0]!, 0);
    await cache.set(keys[1]!, 1);
    await cache.set(keys[2]!, 2);
    const found = await cache.getMany([...keys, keys[1]!]);
    expect([...found.entries()].sort()).toEqual(
      [
        [keys[0], 0],
        [keys[1], 1],
        [keys[2], 2],
      ].sort(),
    );
    expect((await cache.getMany([])).size).toBe(0);
  });

  it('getMany of 500 keys in one call', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => k(`many ${i}`));
    await Promise.all(keys.map((key, i) => (i % 2 === 0 ? cache.set(key, i) : undefined)));
    const found = await cache.getMany(keys);
    expect(found.size).toBe(250);
    for (const [i, key] of keys.entries()) expect(found.get(key)).toBe(i % 2 === 0 ? i : undefined);
  });

  it('cas: of two readers of one version, the first writer wins and the second gets false', async () => {
    await cache.set(k('cas'), 'v0');
    const first = await cache.gets(k('cas'));
    const second = await cache.gets(k('cas'));
    expect(first?.value).toBe('v0');
    expect(second?.cas).toBe(first?.cas);
    expect(await cache.cas(k('cas'), 'v1', first!.cas)).toBe(true);
    expect(await cache.cas(k('cas'), 'v2', second!.cas)).toBe(false);
    expect(await cache.get(k('cas'))).toBe('v1');
    const third = await cache.gets(k('cas'));
    expect(third?.cas).not.toBe(first?.cas);
    expect(await cache.cas(k('cas'), 'v3', third!.cas)).toBe(true);
    expect(await cache.get(k('cas'))).toBe('v3');
  });

  it('cas on a deleted key is false and writes nothing; gets of a missing key is undefined', async () => {
    await cache.set(k('gone'), 1);
    const entry = await cache.gets(k('gone'));
    await cache.delete(k('gone'));
    expect(await cache.cas(k('gone'), 2, entry!.cas)).toBe(false);
    expect(await cache.get(k('gone'))).toBeUndefined();
    expect(await cache.gets(k('gone'))).toBeUndefined();
  });

  it('cas with a token gets never returns is false, never a blind write', async () => {
    await cache.set(k('token'), 'kept');
    for (const token of ['0', 'abc', '-1', '18446744073709551616', '']) {
      expect(await cache.cas(k('token'), 'lost', token as CasToken)).toBe(false);
    }
    expect(await cache.get(k('token'))).toBe('kept');
  });

  it('cas keeps working after incr changed the version', async () => {
    await cache.set(k('casincr'), 1);
    const entry = await cache.gets(k('casincr'));
    expect(await cache.incr(k('casincr'), 1)).toBe(2);
    expect(await cache.cas(k('casincr'), 10, entry!.cas)).toBe(false);
    const fresh = await cache.gets<number>(k('casincr'));
    expect(fresh?.value).toBe(2);
    expect(await cache.cas(k('casincr'), 10, fresh!.cas)).toBe(true);
  });

  it('add writes only a missing key', async () => {
    expect(await cache.add(k('add'), 'first')).toBe(true);
    expect(await cache.add(k('add'), 'second')).toBe(false);
    expect(await cache.get(k('add'))).toBe('first');
  });

  it('incr/decr on a missing key: undefined without initial, initial ± delta with it', async () => {
    expect(await cache.incr(k('c1'), 5)).toBeUndefined();
    expect(await cache.decr(k('c1'), 5)).toBeUndefined();
    expect(await cache.get(k('c1'))).toBeUndefined();
    expect(await cache.incr(k('c1'), 5, { initial: 10 })).toBe(15);
    expect(await cache.incr(k('c1'), 5, { initial: 10 })).toBe(20);
    expect(await cache.decr(k('c2'), 3, { initial: 10 })).toBe(7);
    expect(await cache.decr(k('c3'), 30, { initial: 10 })).toBe(0);
    expect(await cache.incr(k('c4'), 0, { initial: 0 })).toBe(0);
    expect(await cache.get(k('c1'))).toBe(20);
    expect(await cache.get(k('c2'))).toBe(7);
    expect(await cache.get(k('c3'))).toBe(0);
  });

  it('decr floors at zero', async () => {
    await cache.set(k('floor'), 3);
    expect(await cache.decr(k('floor'), 2)).toBe(1);
    expect(await cache.decr(k('floor'), 5)).toBe(0);
    expect(await cache.decr(k('floor'), 1)).toBe(0);
    expect(await cache.get(k('floor'))).toBe(0);
  });

  it('counters are 64-bit exact past 2^32, in results, deltas and initial values', async () => {
    await cache.set(k('big'), 4294967295);
    expect(await cache.incr(k('big'), 1)).toBe(4294967296);
    expect(await cache.get(k('big'))).toBe(4294967296);
    expect((await raw.get(k('big'))).value?.toString()).toBe('4294967296');
    expect(await cache.incr(k('big'), 2 ** 40)).toBe(2 ** 40 + 2 ** 32);
    expect(await cache.decr(k('big'), 2 ** 32 + 1)).toBe(2 ** 40 - 1);
    expect(await cache.incr(k('bigInitial'), 7, { initial: 2 ** 45 })).toBe(2 ** 45 + 7);
  });

  it('a result past MAX_SAFE_INTEGER is OutOfRangeError and the counter is left as it was', async () => {
    await cache.set(k('max'), Number.MAX_SAFE_INTEGER - 1);
    expect(await cache.incr(k('max'), 1)).toBe(Number.MAX_SAFE_INTEGER);
    await expect(cache.incr(k('max'), 1)).rejects.toBeInstanceOf(OutOfRangeError);
    await expect(cache.incr(k('max'), 2 ** 52)).rejects.toBeInstanceOf(OutOfRangeError);
    expect(await cache.get(k('max'))).toBe(Number.MAX_SAFE_INTEGER);
    // Creating a counter past the range is refused and leaves the key missing.
    await expect(
      cache.incr(k('maxNew'), 10, { initial: Number.MAX_SAFE_INTEGER - 5 }),
    ).rejects.toBeInstanceOf(OutOfRangeError);
    expect(await cache.get(k('maxNew'))).toBeUndefined();
    // ...but initial + delta is only what a missing key gets.
    await cache.set(k('maxNew'), 1);
    expect(await cache.incr(k('maxNew'), 10, { initial: Number.MAX_SAFE_INTEGER - 5 })).toBe(11);
  });

  it('incr/decr of a value that is not a non-negative integer is InvalidArgumentError', async () => {
    const values: CacheValue[] = ['text', '5', -5, 2.5, true, { n: 1 }, ''];
    for (const [i, value] of values.entries()) {
      await cache.set(k(`nan${i}`), value);
      await expect(cache.incr(k(`nan${i}`), 1)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(cache.decr(k(`nan${i}`), 1)).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await cache.get(k(`nan${i}`))).toEqual(value);
    }
  });

  it('maps keys memcached cannot take; all round-trip and none collide', async () => {
    const spaced = k('a b');
    const keys = [
      k('x'.repeat(300)),
      k(`${'x'.repeat(299)}y`),
      spaced,
      k('a_b'),
      k('tab\there'),
      k('nl\nhere'),
      k('nul\u0000here'),
      k('ünïcødé ☃ 🙂'),
      `sc~${prefix}literal`,
      // The mapped form of another caller key, used as a key itself: mapped again.
      toMemcachedKey(spaced),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    await Promise.all(keys.map((key, i) => cache.set(key, `value ${i}`)));
    for (const [i, key] of keys.entries()) expect(await cache.get(key)).toBe(`value ${i}`);
    const many = await cache.getMany(keys);
    for (const [i, key] of keys.entries()) expect(many.get(key)).toBe(`value ${i}`);
    // What memcached holds is under the mapped key, and a key it can take is not mapped.
    expect((await raw.get(toMemcachedKey(keys[0]!))).value?.toString()).toBe('"value 0"');
    expect((await raw.get(toMemcachedKey(spaced))).value?.toString()).toBe('"value 2"');
    expect((await raw.get(k('a_b'))).value?.toString()).toBe('"value 3"');
    // Every verb goes through the mapping.
    const entry = await cache.gets(keys[0]!);
    expect(await cache.cas(keys[0]!, 'swapped', entry!.cas)).toBe(true);
    expect(await cache.get(keys[1]!)).toBe('value 1');
    expect(await cache.add(keys[7]!, 'no')).toBe(false);
    await cache.set(keys[6]!, 1);
    expect(await cache.incr(keys[6]!, 2)).toBe(3);
    expect(await cache.decr(keys[6]!, 1)).toBe(2);
    expect(await cache.delete(keys[0]!)).toBe(true);
    expect(await cache.get(keys[0]!)).toBeUndefined();
    expect(await cache.get(keys[1]!)).toBe('value 1');
  });

  it('TTLs over 30 days are sent as absolute times (a relative one would expire at once)', async () => {
    const days = 24 * 3600;
    await cache.set(k('ttl31'), 'kept', { ttlSeconds: 31 * days });
    expect(await cache.add(k('ttlAdd'), 'added', { ttlSeconds: 365 * days })).toBe(true);
    expect(await cache.incr(k('ttlIncr'), 1, { initial: 0, ttlSeconds: 40 * days })).toBe(1);
    await cache.set(k('ttl30'), 'thirty', { ttlSeconds: 30 * days });
    await cache.set(k('ttlHuge'), 'huge', { ttlSeconds: 200 * 365 * days });
    const entry = await cache.gets(k('ttl31'));
    expect(await cache.cas(k('ttl31'), 'swapped', entry!.cas, { ttlSeconds: 60 * days })).toBe(
      true,
    );
    expect(await cache.get(k('ttl31'))).toBe('swapped');
    expect(await cache.get(k('ttlAdd'))).toBe('added');
    expect(await cache.get(k('ttlIncr'))).toBe(1);
    expect(await cache.get(k('ttl30'))).toBe('thirty');
    expect(await cache.get(k('ttlHuge'))).toBe('huge');
  });

  it('200 concurrent incr of one key end at exactly 200, each result seen once', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, () => cache.incr(k('parallel'), 1, { initial: 0 })),
    );
    expect(await cache.get(k('parallel'))).toBe(200);
    expect([...results].sort((a, b) => a! - b!)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
  });

  it('concurrent cas on one key: exactly one writer per version wins', async () => {
    await cache.set(k('race'), 0);
    let wins = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (;;) {
          const entry = await cache.gets<number>(k('race'));
          if (await cache.cas(k('race'), entry!.value + 1, entry!.cas)) {
            wins++;
            return;
          }
        }
      }),
    );
    expect(wins).toBe(20);
    expect(await cache.get(k('race'))).toBe(20);
  });
});

describe('MemcachedCacheStore argument checks', () => {
  it('rejects invalid arguments with InvalidArgumentError before any I/O', async () => {
    // A client on a port nothing listens on: any I/O would fail with CacheUnavailableError.
    const client = memjs.Client.create('127.0.0.1:1', { logger: silent, retries: 1 });
    const perform = vi.spyOn(client, 'perform');
    const cache = new MemcachedCacheStore({ client });
    const rejected = [
      cache.get(''),
      cache.getMany(['ok', '']),
      cache.gets(''),
      cache.set('', 1),
      cache.set('k', 1, { ttlSeconds: -1 }),
      cache.set('k', 1, { ttlSeconds: 1.5 }),
      cache.set('k', Number.NaN),
      cache.set('k', 2 ** 60),
      cache.set('k', { f: undefined } as unknown as CacheValue),
      cache.set('k', 'x'.repeat(1_000_001)),
      cache.add('k', new Date() as unknown as CacheValue),
      cache.cas('k', 1, 123 as unknown as CasToken),
      cache.cas('k', Number.POSITIVE_INFINITY, '1' as CasToken),
      cache.incr('k', -1),
      cache.incr('k', 1.5),
      cache.incr('k', 2 ** 53),
      cache.incr('k', 1, { initial: -1 }),
      cache.incr('k', 1, { ttlSeconds: -5 }),
      cache.decr('k', Number.NaN),
      cache.delete(''),
      cache.get(undefined as unknown as string),
    ];
    for (const call of rejected) await expect(call).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(perform).not.toHaveBeenCalled();
    // The same client does reach the network for a valid call (and fails: nothing listens).
    await expect(cache.get('k')).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(perform).toHaveBeenCalledTimes(1);
    await cache.close();
  });

  it('rejects malformed options', () => {
    const make = (options: unknown) => () =>
      new MemcachedCacheStore(options as ConstructorParameters<typeof MemcachedCacheStore>[0]);
    expect(make({})).toThrow(InvalidArgumentError);
    expect(make({ servers: '' })).toThrow(InvalidArgumentError);
    expect(make({ servers: 'host:99999' })).toThrow(InvalidArgumentError);
    expect(make({ servers: 'host:1,:2' })).toThrow(InvalidArgumentError);
    expect(make({ servers: 'a b:1' })).toThrow(InvalidArgumentError);
    expect(make({ servers: '127.0.0.1:1', timeoutMs: 0 })).toThrow(InvalidArgumentError);
    expect(make({ servers: '127.0.0.1:1', timeoutMs: Number.NaN })).toThrow(InvalidArgumentError);
    for (const failFastMs of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10']) {
      expect(make({ servers: '127.0.0.1:1', failFastMs })).toThrow(InvalidArgumentError);
    }
    const client = memjs.Client.create('127.0.0.1:1', { logger: silent });
    expect(make({ servers: '127.0.0.1:1', client })).toThrow(InvalidArgumentError);
  });

  it('a closed store rejects calls', async () => {
    const cache = new MemcachedCacheStore({ servers: inject('memcachedAddress') });
    await cache.close();
    await cache.close();
    await expect(cache.get('k')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.incr('k', 1)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('MemcachedCacheStore on a private memcached that stops, hangs and comes back', () => {
  let server: MemcachedServer;
  const key = (suffix: string): string => `fault:${randomUUID()}:${suffix}`;

  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server?.stop();
  });
  // A test that failed half-way may have left it stopped or paused.
  beforeEach(async () => {
    server.resume();
    if (!server.running) await server.restart();
  });

  /** Every verb, each expected to fail with CacheUnavailableError. */
  async function expectAllUnavailable(cache: MemcachedCacheStore): Promise<void> {
    const k = key('down');
    const calls: Promise<unknown>[] = [
      cache.get(k),
      cache.getMany([k, `${k} 2`]),
      cache.gets(k),
      cache.cas(k, 1, '1' as CasToken),
      cache.add(k, 1),
      cache.set(k, 1),
      cache.incr(k, 1, { initial: 0 }),
      cache.decr(k, 1),
      cache.delete(k),
    ];
    for (const call of calls) await expect(call).rejects.toBeInstanceOf(CacheUnavailableError);
  }

  it('stopped: calls fail with CacheUnavailableError; restarted: the same store works again', async () => {
    const cache = new MemcachedCacheStore({ servers: server.address, timeoutMs: 300 });
    try {
      const k = key('counter');
      expect(await cache.incr(k, 1, { initial: 0 })).toBe(1);
      await server.stop();
      await expectAllUnavailable(cache);
      const error = await cache.get(k).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CacheUnavailableError);
      expect((error as CacheUnavailableError).code).toBe('CACHE_UNAVAILABLE');
      expect((error as CacheUnavailableError).context).toMatchObject({ operation: 'get', key: k });

      await server.restart();
      // A restart empties memcached: the counter starts over.
      expect(await eventually(() => cache.incr(k, 1, { initial: 0 }))).toBe(1);
      expect(await cache.incr(k, 1)).toBe(2);
      const after = key('after');
      await cache.set(after, 'back');
      expect(await cache.get(after)).toBe('back');
    } finally {
      await cache.close();
    }
  });

  it('stopped while calls are in flight: each settles, as a result or CacheUnavailableError', async () => {
    const cache = new MemcachedCacheStore({ servers: server.address, timeoutMs: 300 });
    try {
      const k = key('inflight');
      await cache.set(k, 0);
      // Outcomes are collected as they settle: a rejection waiting in an array unobserved
      // would count as unhandled.
      const calls: Promise<PromiseSettledResult<number | undefined>>[] = [];
      // memcached keeps serving for up to a second after SIGTERM: fire until well after it exited.
      const fire = (): void => {
        calls.push(
          cache.incr(k, 1).then(
            (value) => ({ status: 'fulfilled', value }) as const,
            (reason: unknown) => ({ status: 'rejected', reason }) as const,
          ),
        );
      };
      let stopped = false;
      const firing = (async () => {
        while (!stopped) {
          fire();
          await sleep(5);
        }
        for (let i = 0; i < 20; i++) fire();
      })();
      await sleep(50);
      await server.stop();
      stopped = true;
      await firing;
      const outcomes = await Promise.all(calls);
      const failures = outcomes.filter((o) => o.status === 'rejected');
      expect(failures.length).toBeGreaterThanOrEqual(20);
      expect(outcomes.length - failures.length).toBeGreaterThan(0);
      for (const failure of failures) {
        expect((failure as PromiseRejectedResult).reason).toBeInstanceOf(CacheUnavailableError);
      }
      await server.restart();
      expect(await eventually(() => cache.incr(k, 5, { initial: 0 }))).toBe(5);
    } finally {
      await cache.close();
    }
  });

  it('hung (paused): calls time out with CacheUnavailableError; resumed: the same store works', async () => {
    // Every verb must time out on its own here, not fail fast after the first.
    const cache = new MemcachedCacheStore({
      servers: server.address,
      timeoutMs: 200,
      failFastMs: 0,
    });
    try {
      const k = key('hung');
      await cache.set(k, 'before');
      await server.pause();
      try {
        await expectAllUnavailable(cache);
        const error = await cache.incr(k, 1).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CacheUnavailableError);
        expect((error as Error).message).toMatch(/did not answer incr within 200 ms/);
      } finally {
        server.resume();
      }
      expect(await eventually(() => cache.get(k))).toBe('before');
      expect(await cache.set(k, 'after')).toBeUndefined();
      expect(await cache.get(k)).toBe('after');
    } finally {
      await cache.close();
    }
  });

  it('a connection memcached dropped (another user sent a bad key) fails its calls, then reconnects', async () => {
    const client = memjs.Client.create(server.address, { logger: silent, retries: 1 });
    // About reconnecting: each attempt must reach the server, none fail fast.
    const cache = new MemcachedCacheStore({ client, timeoutMs: 200, failFastMs: 0 });
    try {
      const k = key('wedged');
      await eventually(() => cache.set(k, 'v'));
      // memjs sends a key over 250 bytes as it is; memcached answers with an error and
      // closes the connection, which memjs alone never notices for later calls.
      await client.get('z'.repeat(300)).catch(() => undefined);
      const attempts: unknown[] = [];
      const value = await eventually(async () => {
        try {
          return await cache.get(k);
        } catch (error) {
          attempts.push(error);
          throw error;
        }
      }, 5);
      expect(value).toBe('v');
      for (const error of attempts) expect(error).toBeInstanceOf(CacheUnavailableError);
    } finally {
      await cache.close();
    }
  });

  it('two servers: keys spread over both; a hung one fails only its own keys', async () => {
    const second = await startMemcached();
    const cache = new MemcachedCacheStore({
      servers: `${server.address},${second.address}`,
      timeoutMs: 200,
      // Long enough that the checks made while the second server is in its window run
      // inside it, even on a loaded machine.
      failFastMs: 2_000,
    });
    const direct = [rawClient(server.address), rawClient(second.address)];
    try {
      const keys = Array.from({ length: 40 }, (_, i) => key(`spread${i}`));
      await eventually(() => Promise.all(keys.map((k, i) => cache.set(k, i))));
      const onFirst = new Set<string>();
      for (const k of keys) {
        const held = await Promise.all(direct.map((c) => c.get(k)));
        // Each key lives on exactly one server.
        expect(held.filter((r) => r.value !== null)).toHaveLength(1);
        if (held[0]!.value !== null) onFirst.add(k);
      }
      expect(onFirst.size).toBeGreaterThan(0);
      expect(onFirst.size).toBeLessThan(keys.length);
      expect((await cache.getMany(keys)).size).toBe(keys.length);

      await second.pause();
      try {
        const outcomes = await Promise.allSettled(keys.map((k) => cache.incr(k, 1)));
        for (const [i, outcome] of outcomes.entries()) {
          if (onFirst.has(keys[i]!)) {
            expect(outcome).toEqual({ status: 'fulfilled', value: i + 1 });
          } else {
            expect(outcome.status).toBe('rejected');
            expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(CacheUnavailableError);
          }
        }
        await expect(cache.getMany(keys)).rejects.toBeInstanceOf(CacheUnavailableError);
        // The hung server is in its fail-fast window: its keys fail at once, getMany among
        // them, while the first server's keys are served as before.
        const firstKeys = keys.filter((k) => onFirst.has(k));
        const secondKey = keys.find((k) => !onFirst.has(k))!;
        const failedFast = await cache.get(secondKey).catch((e: unknown) => e);
        expect((failedFast as CacheUnavailableError).context).toMatchObject({
          reason: 'fail-fast',
          server: second.address,
        });
        const mixed = await cache.getMany([firstKeys[0]!, secondKey]).catch((e: unknown) => e);
        expect((mixed as CacheUnavailableError).context).toMatchObject({
          operation: 'getMany',
          reason: 'fail-fast',
          key: secondKey,
        });
        const fromFirst = await cache.getMany(firstKeys);
        expect(fromFirst.size).toBe(firstKeys.length);
        for (const k of firstKeys) expect(fromFirst.get(k)).toBe(keys.indexOf(k) + 1);
      } finally {
        second.resume();
      }
      // Fifty attempts outlast the fail-fast window.
      const after = await eventually(() => cache.getMany(keys), 50);
      for (const [i, k] of keys.entries()) {
        if (onFirst.has(k)) expect(after.get(k)).toBe(i + 1);
        // The hung server may apply the increments it received once it resumes.
        else expect([i, i + 1]).toContain(after.get(k));
      }
    } finally {
      await cache.close();
      for (const c of direct) c.close();
      await second.stop();
    }
  });

  it('hung: after one timeout, calls to that server fail fast for failFastMs, then one call probes it', async () => {
    const timeoutMs = 300;
    const failFastMs = 800;
    const cache = new MemcachedCacheStore({ servers: server.address, timeoutMs, failFastMs });
    try {
      const k = key('failfast');
      await eventually(() => cache.set(k, 'before'));
      await server.pause();
      try {
        const first = await cache.get(k).catch((e: unknown) => e);
        expect(first).toBeInstanceOf(CacheUnavailableError);
        expect((first as Error).message).toMatch(/did not answer get within 300 ms/);

        // Twenty calls of every verb, none of which waits for the hung server.
        const started = performance.now();
        const calls: [string, Promise<unknown>][] = [];
        for (let i = 0; i < 2; i++) {
          calls.push(
            ['get', cache.get(k)],
            ['getMany', cache.getMany([k])],
            ['gets', cache.gets(k)],
            ['cas', cache.cas(k, 1, '1' as CasToken)],
            ['add', cache.add(k, 1)],
            ['set', cache.set(k, 1)],
            ['incr', cache.incr(k, 1, { initial: 0 })],
            ['decr', cache.decr(k, 1)],
            ['delete', cache.delete(k)],
            ['get', cache.get(k)],
          );
        }
        const errors = await Promise.all(calls.map(([, call]) => call.catch((e: unknown) => e)));
        // A behavioural bound, not a speed target: one timeout would take timeoutMs.
        expect(performance.now() - started).toBeLessThan(timeoutMs);
        for (const [i, error] of errors.entries()) {
          expect(error).toBeInstanceOf(CacheUnavailableError);
          const failure = error as CacheUnavailableError;
          expect(failure.context).toMatchObject({
            operation: calls[i]![0],
            key: k,
            reason: 'fail-fast',
            server: server.address,
          });
          expect(failure.message).toMatch(/failed fast.*within the last 800 ms/);
          expect(failure.cause).toBe(first);
        }

        // Past the window the next call is sent (and times out: the server is still hung);
        // calls made while it is in flight keep failing fast.
        await sleep(failFastMs + 100);
        const probe = cache.get(k).catch((e: unknown) => e);
        const duringProbe = await cache.get(k).catch((e: unknown) => e);
        expect((duringProbe as CacheUnavailableError).context).toMatchObject({
          reason: 'fail-fast',
        });
        expect((duringProbe as Error).message).toMatch(/probing/);
        const probeError = await probe;
        expect(probeError).toBeInstanceOf(CacheUnavailableError);
        expect((probeError as Error).message).toMatch(/did not answer get within 300 ms/);
        // The failed probe starts the window again.
        const again = await cache.incr(k, 1).catch((e: unknown) => e);
        expect((again as CacheUnavailableError).context).toMatchObject({ reason: 'fail-fast' });
        expect((again as CacheUnavailableError).cause).toBe(probeError);
      } finally {
        server.resume();
      }
      // Within the window calls still fail fast; the first one after it finds the server back.
      expect(await eventually(() => cache.get(k))).toBe('before');
      await cache.set(k, 'after');
      expect(await cache.get(k)).toBe('after');
      expect((await cache.getMany([k])).get(k)).toBe('after');
    } finally {
      await cache.close();
    }
  });

  it('failFastMs: 0 turns the window off: every call on a hung server is sent and times out', async () => {
    const cache = new MemcachedCacheStore({
      servers: server.address,
      timeoutMs: 200,
      failFastMs: 0,
    });
    try {
      expect(cache.failFastMs).toBe(0);
      const k = key('nofailfast');
      await eventually(() => cache.set(k, 1));
      await server.pause();
      try {
        for (let i = 0; i < 3; i++) {
          const error = await cache.get(k).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(CacheUnavailableError);
          expect((error as Error).message).toMatch(/did not answer get within 200 ms/);
          expect((error as CacheUnavailableError).context.reason).toBeUndefined();
        }
      } finally {
        server.resume();
      }
      expect(await eventually(() => cache.get(k))).toBe(1);
    } finally {
      await cache.close();
    }
  });

  it('answers such as not-found, exists and non-numeric never open the window', async () => {
    // A window this long would fail the rest of the test if any of these opened it.
    const cache = new MemcachedCacheStore({ servers: server.address, failFastMs: 60_000 });
    try {
      const k = key('answers');
      const missing = key('missing');
      await eventually(() => cache.set(k, 'text'));
      expect(await cache.get(missing)).toBeUndefined();
      expect(await cache.gets(missing)).toBeUndefined();
      expect((await cache.getMany([missing])).size).toBe(0);
      expect(await cache.add(k, 'other')).toBe(false);
      expect(await cache.cas(k, 'other', '1' as CasToken)).toBe(false);
      expect(await cache.incr(missing, 1)).toBeUndefined();
      expect(await cache.delete(missing)).toBe(false);
      await expect(cache.incr(k, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
      await cache.set(missing, Number.MAX_SAFE_INTEGER);
      await expect(cache.incr(missing, 1)).rejects.toBeInstanceOf(OutOfRangeError);
      await expect(cache.get('')).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await cache.get(k)).toBe('text');
      expect(await cache.get(missing)).toBe(Number.MAX_SAFE_INTEGER);
    } finally {
      await cache.close();
    }
  });

  it('close() releases every socket, also after failures, so the process can exit', async () => {
    await sleep(100); // let sockets earlier tests closed finish closing
    const before = tcpSockets();
    // The call right after the timeout must reconnect, not fail fast.
    const cache = new MemcachedCacheStore({
      servers: server.address,
      timeoutMs: 200,
      failFastMs: 0,
    });
    const k = key('close');
    await eventually(() => cache.set(k, 1));
    await Promise.all(Array.from({ length: 20 }, () => cache.incr(k, 1)));
    await server.pause();
    await expect(cache.get(k)).rejects.toBeInstanceOf(CacheUnavailableError);
    // A call made right after the timeout reconnects to the hung server.
    const pending = cache.get(k).catch((e: unknown) => e);
    server.resume();
    await pending;
    expect(await eventually(() => cache.get(k))).toBe(21);
    expect(tcpSockets()).toBeGreaterThan(before);
    await cache.close();
    await vi.waitFor(() => expect(tcpSockets()).toBe(before), { timeout: 2_000, interval: 20 });
  });
});

describe('MemcachedCacheStore signals on a private memcached that hangs', () => {
  let server: MemcachedServer;
  const key = (suffix: string): string => `signal:${randomUUID()}:${suffix}`;

  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a call to a hung server ends at its signal, not at the timeout; resumed, the connection answers each call its own', async () => {
    const cache = new MemcachedCacheStore({
      servers: server.address,
      timeoutMs: 2_000,
      failFastMs: 0,
    });
    const k = key('hung');
    await eventually(() => cache.set(k, 'before'));
    await server.pause();
    try {
      const controller = new AbortController();
      const started = performance.now();
      const read = cache.get(k, { signal: controller.signal });
      const write = cache.set(k, 'during', { signal: controller.signal });
      const unsignalled = cache.get(k);
      setTimeout(() => controller.abort(new Error('request cancelled')), 50);
      await expect(read).rejects.toBeInstanceOf(OperationAbortedError);
      await expect(write).rejects.toBeInstanceOf(AmbiguousCommitError);
      // Long before the 2 s timeout: the signal ended them.
      expect(performance.now() - started).toBeLessThan(1_000);
      server.resume();
      // The abandoned calls' replies come first on the connection and are dropped: the
      // call without a signal gets its own answer (the set, sent before it, has applied).
      expect(await unsignalled).toBe('during');
      expect(await cache.get(k)).toBe('during');
      expect(await cache.incr(key('n'), 1, { initial: 0 })).toBe(1);
    } finally {
      server.resume();
      await cache.close();
    }
  });

  it('FaultInjectingCacheStore: an injected delay ends at the signal, and nothing reaches the cache', async () => {
    const inner = new MemcachedCacheStore({ servers: server.address, timeoutMs: 2_000 });
    const cache = new FaultInjectingCacheStore(inner);
    try {
      cache.faults.delay(5_000, { operations: ['incr'] });
      const controller = new AbortController();
      const started = performance.now();
      const counted = cache.incr(key('delayed'), 1, { initial: 0, signal: controller.signal });
      setTimeout(() => controller.abort(new Error('gave up')), 30);
      await expect(counted).rejects.toBeInstanceOf(OperationAbortedError);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(cache.calls.incr).toBe(0);
      cache.faults.heal();
      expect(await cache.get(key('delayed'))).toBeUndefined();
    } finally {
      await cache.close();
    }
  });
});
