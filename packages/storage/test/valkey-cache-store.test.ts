import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { realCacheStore, startValkey, type ValkeyServer } from '@shardcount/test-services';
import { Redis } from 'iovalkey';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { CacheValue, CasToken } from '../src/cache/cache-store.js';
import { ValkeyCacheStore } from '../src/cache/valkey-cache-store.js';
import { createValkeyCluster } from '../src/cache/valkey-cluster-client.js';
import {
  CacheUnavailableError,
  InvalidArgumentError,
  OutOfRangeError,
} from '../src/errors/index.js';

/** A raw client on a server, to look at (and tamper with) what the store wrote. */
function rawClient(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  return client;
}

/** Retries `work` until it succeeds: the first calls after a restart may still fail. */
async function eventually<T>(work: () => Promise<T>, attempts = 30): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await sleep(100);
    }
  }
}

describe('ValkeyCacheStore on the shared Valkey server', () => {
  const url = inject('valkeyUrl');
  let cache: ValkeyCacheStore;
  let raw: Redis;
  const prefix = `vcs:${randomUUID()}:`;
  const k = (suffix = 'k'): string => prefix + suffix;

  beforeAll(() => {
    cache = realCacheStore({ cache: 'valkey' });
    raw = rawClient(url);
  });
  afterAll(async () => {
    await cache.close();
    raw.disconnect();
  });

  it('realCacheStore gives a standalone ValkeyCacheStore with the default timeouts', () => {
    expect(cache).toBeInstanceOf(ValkeyCacheStore);
    expect(cache.isCluster).toBe(false);
    expect(cache.timeoutMs).toBe(500);
    expect(cache.failFastMs).toBe(1000);
  });

  it('stores a hash of the JSON text and a version that every write replaces', async () => {
    await cache.set(k('layout'), { a: [1, 'two'] });
    const first = await raw.hgetall(k('layout'));
    expect(first.v).toBe('{"a":[1,"two"]}');
    expect(first.c).toMatch(/^[\w-]{12}\.[0-9a-z]+$/);
    await cache.set(k('layout'), { a: [1, 'two'] });
    const second = await raw.hgetall(k('layout'));
    expect(second.v).toBe(first.v);
    expect(second.c).not.toBe(first.c);
    await cache.set(k('int'), 42);
    expect(await raw.hget(k('int'), 'v')).toBe('42');
    expect(await cache.incr(k('int'), 1)).toBe(43);
    expect(await raw.hget(k('int'), 'v')).toBe('43');
  });

  it('cas fails after a write of the same value and after delete + re-create (no ABA)', async () => {
    await cache.set(k('aba'), 'same');
    const entry = await cache.gets(k('aba'));
    await cache.set(k('aba'), 'same');
    expect(await cache.cas(k('aba'), 'mine', entry!.cas)).toBe(false);
    const again = await cache.gets(k('aba'));
    await cache.delete(k('aba'));
    expect(await cache.add(k('aba'), 'same')).toBe(true);
    expect(await cache.cas(k('aba'), 'mine', again!.cas)).toBe(false);
    const counter = await cache.gets(k('abaCounter')).then(async () => {
      await cache.set(k('abaCounter'), 5);
      return cache.gets(k('abaCounter'));
    });
    expect(await cache.incr(k('abaCounter'), 1)).toBe(6);
    expect(await cache.decr(k('abaCounter'), 1)).toBe(5);
    expect(await cache.cas(k('abaCounter'), 0, counter!.cas)).toBe(false);
    expect(await cache.get(k('abaCounter'))).toBe(5);
  });

  it('cas with a token gets never returns is false, never a blind write', async () => {
    await cache.set(k('token'), 'kept');
    for (const token of ['0', 'abc', '', 'x'.repeat(1000)]) {
      expect(await cache.cas(k('token'), 'lost', token as CasToken)).toBe(false);
    }
    expect(await cache.cas(k('missing token'), 'lost', 'abc' as CasToken)).toBe(false);
    expect(await cache.get(k('token'))).toBe('kept');
    expect(await cache.get(k('missing token'))).toBeUndefined();
  });

  it('TTLs: set replaces the TTL, incr keeps it, a created counter gets its own', async () => {
    const day = 24 * 3600;
    await cache.set(k('ttl'), 1, { ttlSeconds: 100 * day });
    const pttl = await raw.pttl(k('ttl'));
    expect(pttl).toBeGreaterThan(99 * day * 1000);
    expect(pttl).toBeLessThanOrEqual(100 * day * 1000);
    expect(await cache.incr(k('ttl'), 1)).toBe(2);
    expect(await raw.pttl(k('ttl'))).toBeGreaterThan(99 * day * 1000);
    await cache.set(k('ttl'), 3);
    expect(await raw.pttl(k('ttl'))).toBe(-1);
    expect(await cache.incr(k('created'), 1, { initial: 0, ttlSeconds: 60 })).toBe(1);
    expect(await raw.ttl(k('created'))).toBeGreaterThan(58);
    expect(await cache.incr(k('created'), 1, { initial: 0, ttlSeconds: 5000 })).toBe(2);
    expect(await raw.ttl(k('created'))).toBeLessThanOrEqual(60);
  });

  it('counters: exact to MAX_SAFE_INTEGER, refused past it with nothing written', async () => {
    await cache.set(k('big'), 2 ** 32 - 1);
    expect(await cache.incr(k('big'), 1)).toBe(2 ** 32);
    expect(await cache.incr(k('big'), 2 ** 52)).toBe(2 ** 52 + 2 ** 32);
    expect(await cache.decr(k('big'), 2 ** 32 + 1)).toBe(2 ** 52 - 1);
    await cache.set(k('max'), Number.MAX_SAFE_INTEGER - 1);
    expect(await cache.incr(k('max'), 1)).toBe(Number.MAX_SAFE_INTEGER);
    const before = await raw.hgetall(k('max'));
    await expect(cache.incr(k('max'), 1)).rejects.toBeInstanceOf(OutOfRangeError);
    await expect(cache.incr(k('max'), Number.MAX_SAFE_INTEGER)).rejects.toBeInstanceOf(
      OutOfRangeError,
    );
    // Refused inside the script: neither the value nor its version changed.
    expect(await raw.hgetall(k('max'))).toEqual(before);
    expect(await cache.decr(k('max'), 1)).toBe(Number.MAX_SAFE_INTEGER - 1);
    await expect(
      cache.incr(k('maxNew'), 10, { initial: Number.MAX_SAFE_INTEGER - 5 }),
    ).rejects.toBeInstanceOf(OutOfRangeError);
    expect(await raw.exists(k('maxNew'))).toBe(0);
    // Values another client wrote past the safe range (Valkey counts to 2^63 - 1).
    await raw.hset(k('huge'), 'v', '9223372036854775807', 'c', 'x');
    await expect(cache.incr(k('huge'), 1)).rejects.toBeInstanceOf(OutOfRangeError);
    await expect(cache.decr(k('huge'), 1)).rejects.toBeInstanceOf(OutOfRangeError);
    await raw.hset(k('huge'), 'v', '9007199254740993');
    await expect(cache.decr(k('huge'), 10)).rejects.toBeInstanceOf(OutOfRangeError);
    expect(await raw.hget(k('huge'), 'v')).toBe('9007199254740993');
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

  it('a key another client wrote with another type: reads refuse it, set replaces it', async () => {
    await raw.set(k('foreign'), '7');
    await expect(cache.get(k('foreign'))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.incr(k('foreign'), 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await cache.add(k('foreign'), 1)).toBe(false);
    expect(await cache.cas(k('foreign'), 1, '' as CasToken)).toBe(false);
    await cache.set(k('foreign'), 8);
    expect(await cache.get(k('foreign'))).toBe(8);
    // A hash without our version field: readable, but its token never matches.
    await raw.hset(k('foreignHash'), 'v', '"x"');
    const entry = await cache.gets(k('foreignHash'));
    expect(entry?.value).toBe('x');
    expect(await cache.cas(k('foreignHash'), 'y', entry!.cas)).toBe(false);
  });

  it('keys are used as they are: binary-safe, long, and braces', async () => {
    const keys = [k('a b'), k('x'.repeat(2000)), k('nl\n'), k('{tag}'), k('ünï ☃')];
    await Promise.all(keys.map((key, i) => cache.set(key, i)));
    for (const [i, key] of keys.entries()) expect(await raw.hget(key, 'v')).toBe(String(i));
  });

  it('scripts come back after the server forgot them (SCRIPT FLUSH)', async () => {
    await cache.set(k('flush'), 1);
    await raw.script('FLUSH');
    expect(await cache.incr(k('flush'), 1)).toBe(2);
    await raw.script('FLUSH');
    await cache.set(k('flush'), 5);
    expect(await cache.get(k('flush'))).toBe(5);
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

  it('getMany of 500 keys in one call', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => k(`many ${i}`));
    await Promise.all(keys.map((key, i) => (i % 2 === 0 ? cache.set(key, i) : undefined)));
    const found = await cache.getMany([...keys, keys[0]!]);
    expect(found.size).toBe(250);
    for (const [i, key] of keys.entries()) expect(found.get(key)).toBe(i % 2 === 0 ? i : undefined);
  });
});

describe('ValkeyCacheStore on the shared three-primary cluster', () => {
  let cache: ValkeyCacheStore;
  const prefix = `vcc:${randomUUID()}:`;

  beforeAll(() => {
    cache = realCacheStore({ cache: 'valkey-cluster' });
  });
  afterAll(async () => {
    await cache.close();
  });

  it('getMany reads keys of every slot and node in one call; hash tags share a slot', async () => {
    expect(cache.isCluster).toBe(true);
    const keys = Array.from({ length: 200 }, (_, i) => `${prefix}spread ${i}`);
    const tagged = Array.from({ length: 20 }, (_, i) => `${prefix}{counter-a}:${i}`);
    await Promise.all([...keys, ...tagged].map((key, i) => cache.set(key, i)));
    const found = await cache.getMany([...keys, ...tagged, `${prefix}missing`]);
    expect(found.size).toBe(keys.length + tagged.length);
    for (const [i, key] of [...keys, ...tagged].entries()) expect(found.get(key)).toBe(i);
  });

  it('scripts run on the node owning the key: cas and counters on keys all over the cluster', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `${prefix}counter ${i}`);
    const results = await Promise.all(
      keys.flatMap((key) => [1, 2, 3].map(() => cache.incr(key, 1, { initial: 0 }))),
    );
    expect(results.filter((value) => value === 3)).toHaveLength(keys.length);
    for (const key of keys) {
      const entry = await cache.gets<number>(key);
      expect(entry?.value).toBe(3);
      expect(await cache.cas(key, 10, entry!.cas)).toBe(true);
      expect(await cache.cas(key, 11, entry!.cas)).toBe(false);
    }
  });
});

describe('ValkeyCacheStore argument checks and ownership', () => {
  it('rejects invalid arguments with InvalidArgumentError before any I/O', async () => {
    // A client on a port nothing listens on: any I/O would fail with CacheUnavailableError.
    const client = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    const send = vi.spyOn(client, 'sendCommand');
    const cache = new ValkeyCacheStore({ client, timeoutMs: 300 });
    const rejected = [
      cache.get(''),
      cache.getMany(['ok', '']),
      cache.getMany('ok' as unknown as string[]),
      cache.gets(''),
      cache.set('', 1),
      cache.set('k', 1, { ttlSeconds: -1 }),
      cache.set('k', 1, { ttlSeconds: 1.5 }),
      cache.set('k', Number.NaN),
      cache.set('k', 2 ** 60),
      cache.set('k', 'x'.repeat(1_000_001)),
      cache.add('k', new Date() as unknown as CacheValue),
      cache.cas('k', 1, 123 as unknown as CasToken),
      cache.incr('k', -1),
      cache.incr('k', 1.5),
      cache.incr('k', 2 ** 53),
      cache.incr('k', 1, { initial: -1 }),
      cache.decr('k', Number.NaN),
      cache.delete(''),
    ];
    for (const call of rejected) await expect(call).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(send).not.toHaveBeenCalled();
    await expect(cache.get('k')).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(send).toHaveBeenCalled();
    await cache.close();
    client.disconnect();
  });

  it('createValkeyCluster keeps the caller’s options but never lets a lost answer be resent', () => {
    const cluster = createValkeyCluster(['127.0.0.1:1'], {
      lazyConnect: true,
      retryDelayOnFailover: 500,
      redisOptions: { connectionName: 'mine', maxRetriesPerRequest: 20 },
    });
    expect(cluster.options.lazyConnect).toBe(true);
    expect(cluster.options.retryDelayOnFailover).toBe(0);
    expect(cluster.options.redisOptions).toMatchObject({
      connectionName: 'mine',
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    });
    expect(cluster.listenerCount('error')).toBe(1);
    cluster.disconnect();
  });

  it('rejects malformed options', () => {
    const make = (options: unknown) => () =>
      new ValkeyCacheStore(options as ConstructorParameters<typeof ValkeyCacheStore>[0]);
    expect(make(undefined)).toThrow(InvalidArgumentError);
    expect(make({})).toThrow(InvalidArgumentError);
    expect(make({ url: '' })).toThrow(InvalidArgumentError);
    expect(make({ url: 'http://host:1' })).toThrow(InvalidArgumentError);
    expect(make({ url: 'redis://' })).toThrow(InvalidArgumentError);
    expect(make({ url: 'redis://127.0.0.1:1', timeoutMs: 0 })).toThrow(InvalidArgumentError);
    expect(make({ url: 'redis://127.0.0.1:1', timeoutMs: Number.NaN })).toThrow(
      InvalidArgumentError,
    );
    expect(make({ url: 'redis://127.0.0.1:1', servers: 'x' })).toThrow(InvalidArgumentError);
    for (const failFastMs of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10']) {
      expect(make({ url: 'redis://127.0.0.1:1', failFastMs })).toThrow(InvalidArgumentError);
    }
    expect(make({ client: {} })).toThrow(InvalidArgumentError);
    const client = new Redis({ lazyConnect: true });
    expect(make({ url: 'redis://127.0.0.1:1', client })).toThrow(InvalidArgumentError);
    client.disconnect();
  });

  it('close() waits for calls in flight; disconnects only a client the store created', async () => {
    const owned = new ValkeyCacheStore({ url: inject('valkeyUrl') });
    const key = `own:${randomUUID()}`;
    await owned.set(key, 1);
    const pending = owned.incr(key, 1);
    await owned.close();
    expect(await pending).toBe(2);
    await owned.close();
    await expect(owned.get(key)).rejects.toBeInstanceOf(InvalidArgumentError);

    const client = rawClient(inject('valkeyUrl'));
    const borrowed = new ValkeyCacheStore({ client });
    expect(await borrowed.get(key)).toBe(2);
    await borrowed.close();
    await expect(borrowed.incr(key, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(client.status).toBe('ready');
    expect(await client.hget(key, 'v')).toBe('2');
    client.disconnect();
  });
});

describe('ValkeyCacheStore close()', () => {
  /** Open sockets and timers of this process. */
  const resources = (): { sockets: number; timers: number } => {
    const names = process.getActiveResourcesInfo();
    return {
      sockets: names.filter((name) => name === 'TCPSocketWrap').length,
      timers: names.filter((name) => name === 'Timeout').length,
    };
  };

  it('releases the socket and timers of a store that made its client, so the process can exit', async () => {
    await sleep(100); // let sockets earlier tests closed finish closing
    const before = resources();
    const cache = new ValkeyCacheStore({ url: inject('valkeyUrl'), timeoutMs: 5_000 });
    const key = `close:${randomUUID()}`;
    await Promise.all(Array.from({ length: 20 }, () => cache.incr(key, 1, { initial: 0 })));
    expect(resources().sockets).toBeGreaterThan(before.sockets);
    await cache.close();
    await vi.waitFor(() => expect(resources().sockets).toBe(before.sockets), {
      timeout: 2_000,
      interval: 20,
    });
    // Outside waitFor, whose own timers would count.
    await sleep(100);
    expect(resources().timers).toBe(before.timers);
  });
});

describe('ValkeyCacheStore on a private server that stops, hangs and comes back', () => {
  let server: ValkeyServer;
  const key = (suffix: string): string => `fault:${randomUUID()}:${suffix}`;

  beforeAll(async () => {
    server = await startValkey();
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
  async function expectAllUnavailable(cache: ValkeyCacheStore): Promise<void> {
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

  it('stopped: every verb fails with CacheUnavailableError; restarted: the same store works', async () => {
    const cache = new ValkeyCacheStore({ url: server.url, timeoutMs: 300, failFastMs: 0 });
    try {
      const k = key('counter');
      expect(await cache.incr(k, 1, { initial: 0 })).toBe(1);
      await server.stop();
      await expectAllUnavailable(cache);
      const error = await cache.get(k).catch((e: unknown) => e);
      expect((error as CacheUnavailableError).code).toBe('CACHE_UNAVAILABLE');
      expect((error as CacheUnavailableError).context).toMatchObject({
        operation: 'get',
        key: k,
        server: server.address,
      });
      await server.restart();
      // A restart empties the server (no persistence): the counter starts over.
      expect(await eventually(() => cache.incr(k, 1, { initial: 0 }))).toBe(1);
      expect(await cache.incr(k, 1)).toBe(2);
    } finally {
      await cache.close();
    }
  });

  it('stopped while increments are in flight: each settles, none is applied twice', async () => {
    const cache = new ValkeyCacheStore({ url: server.url, timeoutMs: 300, failFastMs: 0 });
    try {
      const k = key('inflight');
      await eventually(() => cache.set(k, 0));
      const outcomes: Promise<'ok' | unknown>[] = [];
      let stopped = false;
      const firing = (async () => {
        while (!stopped) {
          outcomes.push(
            cache.incr(k, 1).then(
              () => 'ok',
              (error: unknown) => error,
            ),
          );
          await sleep(2);
        }
      })();
      await sleep(50);
      await server.stop();
      stopped = true;
      await firing;
      const settled = await Promise.all(outcomes);
      const applied = settled.filter((o) => o === 'ok').length;
      expect(applied).toBeGreaterThan(0);
      for (const outcome of settled) {
        if (outcome !== 'ok') expect(outcome).toBeInstanceOf(CacheUnavailableError);
      }
      expect(settled.length - applied).toBeGreaterThan(0);
    } finally {
      await cache.close();
    }
  });

  it('hung (SIGSTOP): every verb times out; resumed: the same store works', async () => {
    const cache = new ValkeyCacheStore({ url: server.url, timeoutMs: 200, failFastMs: 0 });
    try {
      const k = key('hung');
      await eventually(() => cache.set(k, 'before'));
      await server.pause();
      try {
        await expectAllUnavailable(cache);
        const error = await cache.incr(k, 1).catch((e: unknown) => e);
        expect((error as Error).message).toMatch(/did not answer incr within 200 ms/);
      } finally {
        server.resume();
      }
      expect(await eventually(() => cache.get(k))).toBe('before');
      await cache.set(k, 'after');
      expect(await cache.get(k)).toBe('after');
    } finally {
      await cache.close();
    }
  });

  it('hung: after one timeout calls fail fast for failFastMs, then one call probes', async () => {
    const timeoutMs = 300;
    const failFastMs = 800;
    const cache = new ValkeyCacheStore({ url: server.url, timeoutMs, failFastMs });
    try {
      const k = key('failfast');
      await eventually(() => cache.set(k, 'before'));
      await server.pause();
      try {
        const first = await cache.get(k).catch((e: unknown) => e);
        expect((first as Error).message).toMatch(/did not answer get within 300 ms/);
        const started = performance.now();
        const calls: [string, Promise<unknown>][] = [
          ['get', cache.get(k)],
          ['getMany', cache.getMany([k])],
          ['gets', cache.gets(k)],
          ['cas', cache.cas(k, 1, '1' as CasToken)],
          ['add', cache.add(k, 1)],
          ['set', cache.set(k, 1)],
          ['incr', cache.incr(k, 1, { initial: 0 })],
          ['decr', cache.decr(k, 1)],
          ['delete', cache.delete(k)],
        ];
        const errors = await Promise.all(calls.map(([, call]) => call.catch((e: unknown) => e)));
        // A behavioural bound, not a speed target: one timeout would take timeoutMs.
        expect(performance.now() - started).toBeLessThan(timeoutMs);
        for (const [i, error] of errors.entries()) {
          expect(error).toBeInstanceOf(CacheUnavailableError);
          expect((error as CacheUnavailableError).context).toMatchObject({
            operation: calls[i]![0],
            reason: 'fail-fast',
            server: server.address,
          });
          expect((error as CacheUnavailableError).cause).toBe(first);
        }
        await sleep(failFastMs + 100);
        const probe = cache.get(k).catch((e: unknown) => e);
        const duringProbe = await cache.get(k).catch((e: unknown) => e);
        expect((duringProbe as Error).message).toMatch(/probing/);
        expect((await probe) as Error).toBeInstanceOf(CacheUnavailableError);
        const again = await cache.incr(k, 1).catch((e: unknown) => e);
        expect((again as CacheUnavailableError).context).toMatchObject({ reason: 'fail-fast' });
      } finally {
        server.resume();
      }
      expect(await eventually(() => cache.get(k))).toBe('before');
      expect((await cache.getMany([k])).get(k)).toBe('before');
    } finally {
      await cache.close();
    }
  });

  it('answers (missing, lost cas, error replies) never open the window', async () => {
    const cache = new ValkeyCacheStore({ url: server.url, failFastMs: 60_000 });
    const raw = rawClient(server.url);
    try {
      const k = key('answers');
      const missing = key('missing');
      const foreign = key('foreign');
      await eventually(() => cache.set(k, 'text'));
      await raw.set(foreign, 'x');
      expect(await cache.get(missing)).toBeUndefined();
      expect(await cache.gets(missing)).toBeUndefined();
      expect(await cache.add(k, 'other')).toBe(false);
      expect(await cache.cas(k, 'other', '1' as CasToken)).toBe(false);
      expect(await cache.incr(missing, 1)).toBeUndefined();
      expect(await cache.delete(missing)).toBe(false);
      await expect(cache.incr(k, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(cache.get(foreign)).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await cache.get(k)).toBe('text');
    } finally {
      await cache.close();
      raw.disconnect();
    }
  });
});
