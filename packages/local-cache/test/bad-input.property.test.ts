/**
 * Property-based bad-input tests of LocalCache: over each public method's argument space, a
 * call either succeeds or is refused with a ShardcountError naming the argument; never a raw
 * TypeError/RangeError (lru-cache's included), never a hang, and a refused call reaches the
 * tag store not once (the fault-injecting wrapper counts every call).
 */
import { MemoryCacheStore } from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import {
  anyValue,
  assertRefusedOrDone,
  CaseCounter,
  materialize,
  optionsWith,
  outcomeOf,
} from '../../storage/test/support/bad-input.js';
import { LocalCache, MAX_LOCAL_ENTRIES } from '../src/index.js';

const RUNS = 300;
const TIMEOUT_MS = 60_000;
const cases = new CaseCounter();

afterAll(() => {
  console.log(`local-cache bad-input properties: ${cases.count} generated cases`);
});

const noCalls = {
  get: 0,
  getMany: 0,
  gets: 0,
  cas: 0,
  add: 0,
  set: 0,
  incr: 0,
  decr: 0,
  delete: 0,
};

describe('LocalCache refuses bad input before any round trip', () => {
  const keyArb = fc.oneof(fc.constantFrom('a', 'b c'), fc.string({ maxLength: 4 }), anyValue);
  const keysArb = fc.oneof(anyValue, fc.array(keyArb, { maxLength: 4 }));
  const valueProvider = async (key: string): Promise<string> => `value of ${key}`;
  // Valid deadlines are long enough never to pass during a call on the memory store.
  const callOptionsArb = optionsWith(
    ['signal', 'timeoutMs'],
    fc.oneof(anyValue, fc.integer({ min: 1_000, max: 60_000 })),
  );
  const manyProvider = async (keys: readonly string[]): Promise<Map<string, string>> =>
    new Map(keys.map((key) => [key, `value of ${key}`]));

  const methods: Array<{
    readonly name: string;
    readonly parameters: readonly string[];
    readonly args: fc.Arbitrary<unknown[]>;
    readonly async: boolean;
  }> = [
    {
      name: 'get',
      parameters: ['key', 'valueProvider', 'options'],
      args: fc.tuple(
        keyArb,
        fc.oneof(fc.constant<unknown>(valueProvider), anyValue),
        callOptionsArb,
      ),
      async: true,
    },
    {
      name: 'getMany',
      parameters: ['keys', 'provider', 'options'],
      args: fc.tuple(
        keysArb,
        fc.oneof(fc.constant<unknown>(manyProvider), anyValue),
        callOptionsArb,
      ),
      async: true,
    },
    {
      name: 'invalidate',
      parameters: ['key', 'options'],
      args: fc.tuple(keyArb, callOptionsArb),
      async: true,
    },
    {
      name: 'invalidateMany',
      parameters: ['keys', 'options'],
      args: fc.tuple(keysArb, callOptionsArb),
      async: true,
    },
    { name: 'peek', parameters: ['key'], args: fc.tuple(keyArb), async: false },
    { name: 'delete', parameters: ['key'], args: fc.tuple(keyArb), async: false },
  ];

  for (const method of methods) {
    test(
      `${method.name}(${method.parameters.join(', ')})`,
      async () => {
        await fc.assert(
          fc.asyncProperty(method.args, async (args) => {
            cases.add();
            const store = new FaultInjectingCacheStore(new MemoryCacheStore({ maxEntries: 64 }));
            const local = new LocalCache<unknown>({ cache: store, maxEntries: 16 });
            const call = (local as unknown as Record<string, (...a: unknown[]) => unknown>)[
              method.name
            ]!;
            const outcome = await outcomeOf(() => call.apply(local, materialize(args)));
            const error = assertRefusedOrDone(outcome, method.parameters, {
              async: method.async,
            });
            // A provider's answer can only be checked after the tags were read.
            const afterLoad =
              (error as { context?: { argument?: unknown } } | undefined)?.context?.argument ===
              'provider';
            if (error !== undefined && !afterLoad) expect(store.calls).toEqual(noCalls);
          }),
          { numRuns: RUNS },
        );
      },
      TIMEOUT_MS,
    );
  }

  test(
    'new LocalCache(options): refused, or a cache whose reads finish',
    async () => {
      const numberArb = fc.oneof(
        anyValue,
        fc.integer({ min: -2, max: 5000 }),
        fc.double(),
        // Sizes lru-cache itself refuses with a RangeError, or would allocate for seconds.
        fc.constantFrom(MAX_LOCAL_ENTRIES + 1, Number.MAX_SAFE_INTEGER, 2 ** 32, 2 ** 31),
      );
      // Mostly a valid store and namespace, so that the other options get checked.
      const storeArb = fc.oneof(
        { arbitrary: fc.constant<unknown>('valid store'), weight: 6 },
        { arbitrary: anyValue, weight: 1 },
        { arbitrary: fc.constant({ get() {}, getMany() {}, set() {} }), weight: 1 },
      );
      const optionsArb = fc.oneof(
        optionsWith(['cache', 'maxEntries', 'ttlMs'], anyValue),
        fc.record(
          {
            cache: storeArb,
            namespace: fc.oneof({ arbitrary: fc.constant('ns'), weight: 4 }, anyValue),
            maxEntries: numberArb,
            ttlMs: numberArb,
            maxStalenessMs: numberArb,
            versionTtlSeconds: numberArb,
            onCacheUnavailable: fc.oneof(fc.constantFrom('load', 'serve-stale'), anyValue),
            graceMs: numberArb,
            timeoutMs: numberArb,
            now: fc.oneof(
              fc.constant(() => 0),
              anyValue,
            ),
          },
          { requiredKeys: ['cache'] },
        ),
      );
      await fc.assert(
        fc.asyncProperty(optionsArb, async (generated) => {
          // A valid size past 100,000 only costs time (lru-cache allocates every slot).
          const size = (generated as { maxEntries?: unknown } | undefined)?.maxEntries;
          fc.pre(!(typeof size === 'number' && size > 100_000 && size <= MAX_LOCAL_ENTRIES));
          cases.add();
          const store = new FaultInjectingCacheStore(new MemoryCacheStore({ maxEntries: 64 }));
          const [materialized] = materialize([generated]);
          // Decided on the generated value: the materialized one may be a revoked proxy.
          const options =
            typeof generated === 'object' &&
            generated !== null &&
            (generated as { cache?: unknown }).cache === 'valid store'
              ? { ...(materialized as object), cache: store }
              : materialized;
          const outcome = await outcomeOf(() => new LocalCache<string>(options as never));
          assertRefusedOrDone(outcome, ['options'], { async: false });
          expect(store.calls).toEqual(noCalls);
          if (outcome.kind !== 'resolved') return;
          const local = outcome.value as LocalCache<string>;
          const read = await outcomeOf(() => local.get('k', valueProvider));
          expect(read.kind).not.toBe('hung');
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );
});
