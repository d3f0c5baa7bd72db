import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CacheCounterOptions,
  CacheStore,
  CacheValue,
  CacheWriteOptions,
  CasToken,
} from '../cache/cache-store.js';
import {
  AmbiguousCommitError,
  DeadlineExceededError,
  InvalidArgumentError,
  OperationAbortedError,
  OutOfRangeError,
} from '../errors/index.js';
import type { ContractTestApi } from './contract-test-api.js';

/** Switches for what a cache under test supports. */
export interface CacheStoreContractCapabilities {
  /**
   * Run the TTL expiry test, which waits about three seconds of real time (memcached counts
   * TTLs in whole seconds). Default true.
   */
  readonly ttl?: boolean;
  /**
   * How precisely the cache ends a TTL. `'seconds'` (memcached, the default): on the
   * server's whole-second clock, so a TTL of N seconds ends between N-1 and N seconds after
   * the write. `'milliseconds'` (Valkey): exactly N seconds after it; the TTL test then also
   * checks that an entry is still there part-way through its last second.
   */
  readonly ttlGranularity?: 'seconds' | 'milliseconds';
  /**
   * What an `incr` past `Number.MAX_SAFE_INTEGER` leaves behind, besides the value (always
   * unchanged). `'refused'` (Valkey: the server-side script takes the sum back before it
   * ends, so no one ever sees it): the entry's version is untouched, so a `cas` token read
   * before still matches.
   * `'undone'` (memcached: its unsigned 64-bit counter applies the increment, the store takes
   * it back): the entry has a new version, so that token no longer matches. Absent: not
   * checked.
   */
  readonly counterOverflow?: 'refused' | 'undone';
  /**
   * Whether a call can be in flight when its signal aborts (a network cache; `false` for a
   * cache whose calls complete as they are made, like `MemoryCacheStore`). Then the contract
   * checks that an abort right after the call rejects it at once (a read with the abort
   * error, a write with `AmbiguousCommitError`) and that the abandoned calls' answers do not
   * reach later calls. Default false.
   */
  readonly inFlightAbort?: boolean;
  /** Per-test timeout in milliseconds. Default 30,000. */
  readonly timeoutMs?: number;
}

/** What {@link runCacheStoreContract} needs to know about the cache under test. */
export interface CacheStoreContractOptions {
  /** Name shown in the test report. */
  readonly name: string;
  /** Makes the cache a test uses; tests use random keys, so one shared server is fine. */
  readonly create: () => CacheStore | Promise<CacheStore>;
  /** Capability switches. */
  readonly capabilities?: CacheStoreContractCapabilities;
}

/**
 * Registers the conformance tests every `CacheStore` passes: each verb's semantics,
 * CAS conflicts, `add` on an existing key, counters on missing keys and their zero floor,
 * TTL expiry, key mapping of keys memcached cannot take, and validation before I/O.
 */
export function runCacheStoreContract(
  api: ContractTestApi,
  options: CacheStoreContractOptions,
): void {
  const caps = options.capabilities ?? {};
  const timeout = caps.timeoutMs ?? 30_000;
  const it = (
    name: string,
    body: (cache: CacheStore, k: (suffix?: string) => string) => Promise<void>,
  ): void =>
    api.test(
      name,
      async () => {
        const cache = await options.create();
        const prefix = `contract:${randomUUID()}:`;
        try {
          await body(cache, (suffix = 'k') => prefix + suffix);
        } finally {
          await cache.close();
        }
      },
      timeout,
    );

  api.describe(`CacheStore contract: ${options.name}`, () => {
    it('get of a missing key is undefined', async (cache, k) => {
      assert.equal(await cache.get(k()), undefined);
    });

    it('set then get round-trips integers and JSON values', async (cache, k) => {
      const values: CacheValue[] = [
        0,
        42,
        -5,
        2.5,
        Number.MAX_SAFE_INTEGER,
        'text',
        '',
        true,
        false,
        null,
        [1, 'a'],
        { a: { b: [1, 2] } },
      ];
      for (const [i, value] of values.entries()) {
        await cache.set(k(String(i)), value);
        assert.deepEqual(await cache.get(k(String(i))), value);
      }
    });

    it('getMany returns only the keys found, under the caller’s keys', async (cache, k) => {
      await cache.set(k('a'), 1);
      await cache.set(k('b c'), { two: 2 });
      const found = await cache.getMany([k('a'), k('b c'), k('missing')]);
      assert.deepEqual(
        [...found.entries()].sort(),
        [
          [k('a'), 1],
          [k('b c'), { two: 2 }],
        ].sort(),
      );
      assert.equal((await cache.getMany([])).size, 0);
    });

    it('cas writes only over the version it read: the second writer loses', async (cache, k) => {
      await cache.set(k(), 1);
      const first = await cache.gets(k());
      const second = await cache.gets(k());
      assert.ok(first && second);
      assert.equal(first.value, 1);
      assert.equal(await cache.cas(k(), 2, first.cas), true);
      assert.equal(await cache.cas(k(), 3, second.cas), false);
      assert.equal(await cache.get(k()), 2);
      const third = await cache.gets(k());
      assert.notEqual(third!.cas, first.cas);
    });

    it('cas fails on a deleted or rewritten key and gets of a missing key is undefined', async (cache, k) => {
      assert.equal(await cache.gets(k()), undefined);
      await cache.set(k(), 'a');
      const read = await cache.gets(k());
      await cache.delete(k());
      assert.equal(await cache.cas(k(), 'b', read!.cas), false);
      assert.equal(await cache.get(k()), undefined);
      await cache.set(k(), 'c');
      const again = await cache.gets(k());
      await cache.set(k(), 'd');
      assert.equal(await cache.cas(k(), 'e', again!.cas), false);
      assert.equal(await cache.get(k()), 'd');
    });

    it('add writes only a missing key', async (cache, k) => {
      assert.equal(await cache.add(k(), 'first'), true);
      assert.equal(await cache.add(k(), 'second'), false);
      assert.equal(await cache.get(k()), 'first');
    });

    it('incr and decr on a missing key: nothing without initial, initial ± delta with it', async (cache, k) => {
      assert.equal(await cache.incr(k('a'), 5), undefined);
      assert.equal(await cache.get(k('a')), undefined);
      assert.equal(await cache.decr(k('a'), 5), undefined);
      assert.equal(await cache.incr(k('a'), 5, { initial: 10 }), 15);
      assert.equal(await cache.incr(k('a'), 5, { initial: 10 }), 20);
      assert.equal(await cache.decr(k('b'), 3, { initial: 10 }), 7);
      assert.equal(await cache.decr(k('c'), 30, { initial: 10 }), 0);
      assert.equal(await cache.get(k('a')), 20);
    });

    it('counters add atomically, floor at zero and stay readable as numbers', async (cache, k) => {
      await cache.set(k(), 10);
      assert.equal(await cache.incr(k(), 5), 15);
      assert.equal(await cache.decr(k(), 6), 9);
      assert.equal(await cache.get(k()), 9);
      assert.equal(await cache.decr(k(), 100), 0);
      assert.equal(await cache.get(k()), 0);
      await Promise.all(Array.from({ length: 100 }, () => cache.incr(k(), 1)));
      assert.equal(await cache.get(k()), 100);
      assert.equal(await cache.incr(k(), 0), 100);
    });

    it('counters past 2^32 are exact; past MAX_SAFE_INTEGER they fail', async (cache, k) => {
      await cache.set(k(), 2 ** 32 - 1);
      assert.equal(await cache.incr(k(), 1), 2 ** 32);
      assert.equal(await cache.get(k()), 2 ** 32);
      await cache.set(k('max'), Number.MAX_SAFE_INTEGER - 1);
      assert.equal(await cache.incr(k('max'), 1), Number.MAX_SAFE_INTEGER);
      await assert.rejects(cache.incr(k('max'), 1), OutOfRangeError);
      if (caps.counterOverflow !== undefined) {
        const before = await cache.gets(k('max'));
        await assert.rejects(cache.incr(k('max'), 5), OutOfRangeError);
        assert.equal(await cache.get(k('max')), Number.MAX_SAFE_INTEGER);
        const matched = await cache.cas(k('max'), 1, before!.cas);
        assert.equal(matched, caps.counterOverflow === 'refused');
      }
    });

    it('incr of a value that is not a non-negative integer is rejected', async (cache, k) => {
      await cache.set(k(), 'text');
      await assert.rejects(cache.incr(k(), 1), InvalidArgumentError);
      assert.equal(await cache.get(k()), 'text');
    });

    it('delete reports whether the key existed', async (cache, k) => {
      await cache.set(k(), 1);
      assert.equal(await cache.delete(k()), true);
      assert.equal(await cache.delete(k()), false);
      assert.equal(await cache.get(k()), undefined);
    });

    it('keys memcached cannot take work and never collide', async (cache, k) => {
      const keys = [
        k('with space'),
        k('with_space'),
        k(`long-${'x'.repeat(300)}`),
        k(`long-${'x'.repeat(299)}y`),
        k('tab\there'),
        k('new\nline'),
        k('ünïcødé ☃'),
        'sc~looks-mapped',
        `sc~${'a'.repeat(43)}`,
      ];
      await Promise.all(keys.map((key, i) => cache.set(key, i)));
      for (const [i, key] of keys.entries()) assert.equal(await cache.get(key), i, key);
      const many = await cache.getMany(keys);
      for (const [i, key] of keys.entries()) assert.equal(many.get(key), i);
      const entry = await cache.gets(keys[2]!);
      assert.equal(await cache.cas(keys[2]!, 'swapped', entry!.cas), true);
      assert.equal(await cache.get(keys[2]!), 'swapped');
      assert.equal(await cache.get(keys[3]!), 3);
      await Promise.all(keys.map((key) => cache.delete(key)));
    });

    it('rejects invalid arguments with InvalidArgumentError', async (cache, k) => {
      await assert.rejects(cache.get(''), InvalidArgumentError);
      await assert.rejects(cache.set(k(), 1, { ttlSeconds: -1 }), InvalidArgumentError);
      await assert.rejects(cache.set(k(), 1, { ttlSeconds: 1.5 }), InvalidArgumentError);
      await assert.rejects(cache.set(k(), Number.NaN), InvalidArgumentError);
      await assert.rejects(cache.set(k(), 2 ** 60), InvalidArgumentError);
      await assert.rejects(
        cache.set(k(), { f: undefined } as unknown as CacheValue),
        InvalidArgumentError,
      );
      await assert.rejects(cache.incr(k(), -1), InvalidArgumentError);
      await assert.rejects(cache.incr(k(), 1.5), InvalidArgumentError);
      await assert.rejects(cache.incr(k(), 1, { initial: -1 }), InvalidArgumentError);
      assert.equal(await cache.get(k()), undefined);
    });

    it('refuses wrong shapes with InvalidArgumentError naming the argument, writing nothing', async (cache, k) => {
      const refuses = async (call: () => Promise<unknown>, argument: string): Promise<void> => {
        await assert.rejects(call, (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError, `${argument}: ${String(error)}`);
          assert.equal(error.context.argument, argument);
          return true;
        });
      };
      await refuses(() => cache.getMany('abc' as unknown as string[]), 'keys');
      await refuses(() => cache.getMany(null as unknown as string[]), 'keys');
      await refuses(() => cache.getMany([k(), '']), 'keys[1]');
      await refuses(() => cache.get(null as unknown as string), 'key');
      await refuses(() => cache.get(Object.create(null) as string), 'key');
      // A lone surrogate has no UTF-8 form: two such keys would reach the server as the same bytes.
      await refuses(() => cache.set(k('\uD800'), 1), 'key');
      await refuses(() => cache.set(k(), 1, null as unknown as CacheWriteOptions), 'options');
      await refuses(() => cache.set(k(), 1, 'x' as unknown as CacheWriteOptions), 'options');
      await refuses(
        () => cache.set(k(), 1, { ttl: 60 } as unknown as CacheWriteOptions),
        'options.ttl',
      );
      await refuses(() => cache.incr(k(), 1, null as unknown as CacheCounterOptions), 'options');
      await refuses(
        () => cache.decr(k(), 1, { initial: Number.NaN } as CacheCounterOptions),
        'options.initial',
      );
      await refuses(() => cache.incr(k(), Number.POSITIVE_INFINITY), 'delta');
      await refuses(() => cache.cas(k(), 1, 123 as unknown as CasToken), 'cas');
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await refuses(() => cache.set(k(), cyclic as CacheValue), 'value.self');
      await refuses(
        () => cache.set(k(), { when: new Date() } as unknown as CacheValue),
        'value.when',
      );
      assert.equal(await cache.get(k()), undefined);
      // A string token gets never returned names no version: it never matches.
      await cache.set(k('swap'), 1);
      assert.equal(await cache.cas(k('swap'), 2, 'not-a-token' as CasToken), false);
      assert.equal(await cache.get(k('swap')), 1);
    });

    it('a signal aborted before the call: every verb rejects with the abort error and writes nothing', async (cache, k) => {
      await cache.set(k('kept'), 1);
      const entry = await cache.gets(k('kept'));
      const reason = new Error('caller gave up');
      const signal = AbortSignal.abort(reason);
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['get', () => cache.get(k('kept'), { signal })],
        ['getMany', () => cache.getMany([k('kept'), k('other')], { signal })],
        ['gets', () => cache.gets(k('kept'), { signal })],
        ['cas', () => cache.cas(k('kept'), 2, entry!.cas, { signal })],
        ['add', () => cache.add(k('added'), 1, { signal })],
        ['set', () => cache.set(k('kept'), 3, { signal })],
        ['incr', () => cache.incr(k('counter'), 1, { initial: 0, signal })],
        ['decr', () => cache.decr(k('kept'), 1, { signal })],
        ['delete', () => cache.delete(k('kept'), { signal })],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(call, (error: unknown) => {
          assert.ok(error instanceof OperationAbortedError, `${name}: ${String(error)}`);
          assert.equal(error.cause, reason, name);
          return true;
        });
      }
      // A typed reason (a deadline from openOperationSignal) is the rejection itself.
      const deadline = new DeadlineExceededError('deadline passed');
      await assert.rejects(cache.get(k('kept'), { signal: AbortSignal.abort(deadline) }), (e) => {
        assert.equal(e, deadline);
        return true;
      });
      const aborted = new OperationAbortedError('stopped');
      await assert.rejects(
        cache.incr(k('counter'), 1, { signal: AbortSignal.abort(aborted) }),
        (e) => {
          assert.equal(e, aborted);
          return true;
        },
      );
      assert.equal(await cache.get(k('kept')), 1);
      assert.equal(await cache.get(k('added')), undefined);
      assert.equal(await cache.get(k('counter')), undefined);
      // A signal that never aborts changes nothing.
      const live = new AbortController().signal;
      assert.equal(await cache.incr(k('counter'), 2, { initial: 0, signal: live }), 2);
      assert.equal(await cache.get(k('counter'), { signal: live }), 2);
      assert.deepEqual(
        await cache.getMany([k('counter')], { signal: live }),
        new Map([[k('counter'), 2]]),
      );
      assert.equal(await cache.delete(k('counter'), { signal: live }), true);
    });

    it('refuses a signal that is not an AbortSignal, and unknown call options, before any I/O', async (cache, k) => {
      const refuses = async (call: () => Promise<unknown>, argument: string): Promise<void> => {
        await assert.rejects(call, (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError, `${argument}: ${String(error)}`);
          assert.equal(error.context.argument, argument);
          return true;
        });
      };
      const notASignal = { aborted: true } as unknown as AbortSignal;
      await refuses(() => cache.get(k(), { signal: notASignal }), 'options.signal');
      await refuses(() => cache.getMany([k()], { signal: notASignal }), 'options.signal');
      await refuses(() => cache.set(k(), 1, { signal: notASignal }), 'options.signal');
      await refuses(() => cache.incr(k(), 1, { initial: 0, signal: notASignal }), 'options.signal');
      await refuses(
        () => cache.delete(k(), { timeoutMs: 5 } as unknown as { signal?: AbortSignal }),
        'options.timeoutMs',
      );
      await refuses(() => cache.gets(k(), null as unknown as { signal?: AbortSignal }), 'options');
      assert.equal(await cache.get(k()), undefined);
    });

    if (caps.inFlightAbort === true) {
      it('a signal aborting while calls are in flight rejects them at once; their answers are dropped, later calls get their own', async (cache, k) => {
        const values = Array.from({ length: 20 }, (_, i) => ({ n: i, text: `value ${i}` }));
        await Promise.all(values.map((value, i) => cache.set(k(`v${i}`), value)));
        const controller = new AbortController();
        const reason = new Error('client went away');
        const { signal } = controller;
        // Half the reads under the signal, half without, interleaved on the same connection.
        const reads = values.map((_, i) =>
          i % 2 === 0 ? cache.get(k(`v${i}`), { signal }) : cache.get(k(`v${i}`)),
        );
        const counted = cache.incr(k('counter'), 1, { initial: 0, signal });
        const many = cache.getMany([k('v0'), k('v1')], { signal });
        controller.abort(reason);
        // Settled together, so no rejection waits unhandled while the other reads are answered.
        const [settled, countedOutcome, manyOutcome] = await Promise.all([
          Promise.allSettled(reads),
          Promise.allSettled([counted]),
          Promise.allSettled([many]),
        ]);
        settled.forEach((outcome, i) => {
          if (i % 2 === 0) {
            assert.equal(outcome.status, 'rejected', `read ${i}`);
            const error = (outcome as PromiseRejectedResult).reason as unknown;
            assert.ok(error instanceof OperationAbortedError, `read ${i}: ${String(error)}`);
            assert.equal(error.cause, reason);
          } else {
            assert.deepEqual(outcome, { status: 'fulfilled', value: values[i] }, `read ${i}`);
          }
        });
        assert.equal(manyOutcome[0].status, 'rejected');
        assert.ok(
          (manyOutcome[0] as PromiseRejectedResult).reason instanceof OperationAbortedError,
        );
        // The incr was sent: it may apply, so its abandonment is ambiguous.
        assert.equal(countedOutcome[0].status, 'rejected');
        const ambiguous = (countedOutcome[0] as PromiseRejectedResult).reason as unknown;
        assert.ok(ambiguous instanceof AmbiguousCommitError, String(ambiguous));
        assert.ok(ambiguous.cause instanceof OperationAbortedError);
        // The abandoned answers were read off the connection and dropped: later calls on it
        // get their own answers. The incr was sent before the get, so it has applied.
        assert.equal(await cache.get(k('counter')), 1);
        for (let round = 0; round < 3; round += 1) {
          const again = await Promise.all(values.map((_, i) => cache.get(k(`v${i}`))));
          assert.deepEqual(again, values);
        }
        assert.equal(await cache.incr(k('counter'), 1), 2);
      });
    }

    it('after close() every call is refused with InvalidArgumentError; close() again is fine', async (cache, k) => {
      await cache.set(k(), 1);
      const entry = await cache.gets(k());
      await cache.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['get', () => cache.get(k())],
        ['getMany', () => cache.getMany([k()])],
        ['gets', () => cache.gets(k())],
        ['cas', () => cache.cas(k(), 2, entry!.cas)],
        ['add', () => cache.add(k('new'), 1)],
        ['set', () => cache.set(k(), 2)],
        ['incr', () => cache.incr(k(), 1)],
        ['decr', () => cache.decr(k(), 1)],
        ['delete', () => cache.delete(k())],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(call, InvalidArgumentError, `${name} after close()`);
      }
      await cache.close();
    });

    if (caps.ttl !== false) {
      it('entries expire after their TTL; ttl 0 never expires', async (cache, k) => {
        await cache.set(k('short'), 1, { ttlSeconds: 2 });
        await cache.set(k('forever'), 1, { ttlSeconds: 0 });
        await cache.add(k('added'), 1, { ttlSeconds: 2 });
        await cache.incr(k('counter'), 1, { initial: 0, ttlSeconds: 2 });
        await cache.set(k('month'), 1, { ttlSeconds: 40 * 24 * 3600 });
        assert.equal(await cache.get(k('short')), 1);
        if (caps.ttlGranularity === 'milliseconds') {
          // Half-way through the 2 s TTL (memcached's clock may already have ended it).
          await sleep(1000);
          assert.equal(await cache.get(k('short')), 1);
          assert.equal(await cache.get(k('counter')), 1);
          await sleep(2100);
        } else {
          await sleep(3100);
        }
        assert.equal(await cache.get(k('short')), undefined);
        assert.equal(await cache.get(k('added')), undefined);
        assert.equal(await cache.get(k('counter')), undefined);
        assert.equal(await cache.get(k('forever')), 1);
        assert.equal(await cache.get(k('month')), 1);
      });
    }
  });
}
