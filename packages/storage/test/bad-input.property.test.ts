/**
 * Property-based bad-input tests of @shardcount/storage's embedded adapters: over each public
 * method's argument space, a call either succeeds or is refused with a ShardcountError naming
 * the argument; never a raw TypeError/RangeError, never a hang, and a refused call changes
 * nothing (the entity store makes no backend call at all, the cache keeps its contents).
 */
import {
  BackendEntityStore,
  type CacheStore,
  type CasToken,
  DEFAULT_RETRY_POLICY,
  defineKind,
  type EntityStore,
  key,
  MAX_MEMORY_CACHE_ENTRIES,
  MemoryCacheStore,
  MemoryEntityBackend,
  MemoryEntityStore,
  resolveRetryPolicy,
} from '@shardcount/storage';
import { FaultInjectingEntityStore } from '@shardcount/storage/testing';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import {
  anyValue,
  assertRefusedOrDone,
  CaseCounter,
  materialize,
  optionsWith,
  outcomeOf,
} from './support/bad-input.js';

const RUNS = 300;
const cases = new CaseCounter();
const TIMEOUT_MS = 60_000;

afterAll(() => {
  console.log(`storage bad-input properties: ${cases.count} generated cases`);
});

describe('MemoryCacheStore refuses bad input before any change', () => {
  const KEYS = ['a', 'b c', 'sc~x'];
  const TOKEN = Symbol('a real token from gets');
  const keyArb = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 4 }), anyValue);
  const keysArb = fc.oneof(anyValue, fc.array(keyArb, { maxLength: 4 }));
  const numberArb = fc.oneof(anyValue, fc.integer({ min: -3, max: 3 }), fc.double());
  const writeOptions = optionsWith(['ttlSeconds'], numberArb);
  const counterOptions = optionsWith(['ttlSeconds', 'initial'], numberArb);
  const tokenArb = fc.oneof(fc.constant<unknown>(TOKEN), anyValue);

  /** A small cache holding known entries, and a valid token for `a`. */
  async function fresh(): Promise<{ cache: CacheStore; token: CasToken }> {
    const cache = new MemoryCacheStore({ maxEntries: 64 });
    await cache.set('a', 1);
    await cache.set('b c', 'text');
    const entry = await cache.gets('a');
    return { cache, token: entry!.cas };
  }

  /** Everything a refused call could have changed: the known keys and the key it named. */
  async function contents(cache: CacheStore, extra: unknown): Promise<unknown> {
    const probe = [...KEYS];
    if (typeof extra === 'string' && extra.length > 0 && !/\p{Cs}/u.test(extra)) probe.push(extra);
    return [...(await cache.getMany(probe))].sort();
  }

  const verbs: Array<{
    readonly name: string;
    readonly parameters: readonly string[];
    readonly args: fc.Arbitrary<unknown[]>;
  }> = [
    { name: 'get', parameters: ['key'], args: fc.tuple(keyArb) },
    { name: 'gets', parameters: ['key'], args: fc.tuple(keyArb) },
    { name: 'delete', parameters: ['key'], args: fc.tuple(keyArb) },
    { name: 'getMany', parameters: ['keys'], args: fc.tuple(keysArb) },
    {
      name: 'set',
      parameters: ['key', 'value', 'options'],
      args: fc.tuple(keyArb, anyValue, writeOptions),
    },
    {
      name: 'add',
      parameters: ['key', 'value', 'options'],
      args: fc.tuple(keyArb, anyValue, writeOptions),
    },
    {
      name: 'cas',
      parameters: ['key', 'value', 'cas', 'options'],
      args: fc.tuple(keyArb, anyValue, tokenArb, writeOptions),
    },
    {
      name: 'incr',
      parameters: ['key', 'delta', 'options'],
      args: fc.tuple(keyArb, numberArb, counterOptions),
    },
    {
      name: 'decr',
      parameters: ['key', 'delta', 'options'],
      args: fc.tuple(keyArb, numberArb, counterOptions),
    },
  ];

  for (const verb of verbs) {
    test(
      `${verb.name}(${verb.parameters.join(', ')})`,
      async () => {
        await fc.assert(
          fc.asyncProperty(verb.args, async (args) => {
            cases.add();
            const { cache, token } = await fresh();
            const real = materialize(args.map((arg) => (arg === TOKEN ? token : arg)));
            const before = await contents(cache, real[0]);
            const method = (cache as unknown as Record<string, (...a: unknown[]) => unknown>)[
              verb.name
            ]!;
            const outcome = await outcomeOf(() => method.apply(cache, real));
            const error = assertRefusedOrDone(outcome, verb.parameters, { async: true });
            if (error !== undefined) expect(await contents(cache, real[0])).toEqual(before);
          }),
          { numRuns: RUNS },
        );
      },
      TIMEOUT_MS,
    );
  }

  test(
    'new MemoryCacheStore(options)',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            optionsWith(
              ['maxEntries', 'now'],
              fc.oneof(
                numberArb,
                fc.constant(() => 0),
              ),
            ),
            fc.record(
              {
                maxEntries: fc.oneof(
                  numberArb,
                  fc.integer({ min: -2, max: 5000 }),
                  // Sizes lru-cache refuses with a RangeError, or would allocate for seconds.
                  fc.constantFrom(MAX_MEMORY_CACHE_ENTRIES + 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
                ),
                now: fc.oneof(
                  fc.constant(() => 0),
                  anyValue,
                ),
              },
              { requiredKeys: [] },
            ),
          ),
          async (options) => {
            // A valid size past 100,000 only costs time (lru-cache allocates every slot).
            const size = (options as { maxEntries?: unknown } | undefined)?.maxEntries;
            fc.pre(!(typeof size === 'number' && size > 100_000 && size <= 10_000_000));
            cases.add();
            const outcome = await outcomeOf(
              () => new MemoryCacheStore(materialize([options])[0] as never),
            );
            assertRefusedOrDone(outcome, ['options'], { async: false });
            if (outcome.kind === 'resolved') {
              const cache = outcome.value as CacheStore;
              await cache.set('k', 1);
              expect(await cache.get('k')).toBe(1);
            }
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );
});

describe('null is a value, not "absent": only undefined takes an option\'s default', () => {
  test.each<[string, () => unknown, string]>([
    [
      'MemoryCacheStore maxEntries',
      () => new MemoryCacheStore({ maxEntries: null as never }),
      'options.maxEntries',
    ],
    ['MemoryCacheStore now', () => new MemoryCacheStore({ now: null as never }), 'options.now'],
    [
      'MemoryEntityStore limits',
      () => new MemoryEntityStore({ limits: null as never }),
      'options.limits',
    ],
    [
      'MemoryEntityStore retry',
      () => new MemoryEntityStore({ retry: null as never }),
      'options.retry',
    ],
  ])('%s: null is refused', (_, make, argument) => {
    expect(make).toThrow(expect.objectContaining({ context: { argument } }));
  });

  test('query filters and limit, set ttlSeconds, incr initial: null is refused', async () => {
    const store = new MemoryEntityStore();
    const Items = defineKind<{ n: number }>('Item');
    await expect(store.query(Items, { filters: null as never })).rejects.toMatchObject({
      context: { argument: 'options.filters' },
    });
    await expect(store.query(Items, { limit: null as never })).rejects.toMatchObject({
      context: { argument: 'options.limit' },
    });
    const cache = new MemoryCacheStore();
    await expect(cache.set('k', 1, { ttlSeconds: null as never })).rejects.toMatchObject({
      context: { argument: 'options.ttlSeconds' },
    });
    await expect(cache.incr('k', 1, { initial: null as never })).rejects.toMatchObject({
      context: { argument: 'options.initial' },
    });
  });
});

describe('resolveRetryPolicy: what core checks its retry option with', () => {
  test('merges over a base, refusing bad fields, unknown fields and min > max', () => {
    const base = { ...DEFAULT_RETRY_POLICY, retries: 20 };
    expect(resolveRetryPolicy(undefined, 'options.retry', base)).toEqual(base);
    expect(resolveRetryPolicy({ retries: 3 }, 'options.retry', base)).toEqual({
      ...base,
      retries: 3,
    });
    const refused: Array<[unknown, string]> = [
      [{ retries: -1 }, 'options.retry.retries'],
      ['many', 'options.retry'],
      [null, 'options.retry'],
      [{ minTimeoutMs: -5 }, 'options.retry.minTimeoutMs'],
      [{ maxTimeoutMs: 2 ** 31 }, 'options.retry.maxTimeoutMs'],
      [{ minTimeoutMs: 5000 }, 'options.retry.minTimeoutMs'],
      [{ retry: 3 }, 'options.retry.retry'],
    ];
    for (const [policy, argument] of refused) {
      expect(() => resolveRetryPolicy(policy, 'options.retry', base), argument).toThrow(
        expect.objectContaining({ context: { argument } }),
      );
    }
  });
});

describe('limits that would make chunking loop forever', () => {
  test('refused when the store is made, and again if a backend changes them later', async () => {
    expect(() => new MemoryEntityStore({ limits: { maxLookupKeys: 0 } })).toThrow(
      expect.objectContaining({ context: { argument: 'options.limits.maxLookupKeys' } }),
    );
    const backend = new MemoryEntityBackend();
    const store = new BackendEntityStore(backend);
    const Items = defineKind<{ n: number }>('Item');
    // A third-party backend could report new limits at any time.
    Object.defineProperty(backend, 'limits', {
      value: { maxLookupKeys: Number.NaN, maxMutationsPerCommit: 0 },
    });
    await expect(store.load(Items.key('a'))).rejects.toMatchObject({
      context: { argument: 'backend.limits.maxLookupKeys' },
    });
    await expect(store.save(Items.key('a'), { n: 1 })).rejects.toMatchObject({
      context: { argument: 'backend.limits.maxMutationsPerCommit' },
    });
  });
});

describe('MemoryEntityStore refuses bad input before any backend call', () => {
  interface Item {
    n: number;
  }
  const Items = defineKind<Item>('Item');
  const stored = Items.key('stored');
  const work = async (): Promise<string> => 'done';
  const keyArb = fc.oneof(
    fc.constant<unknown>(stored),
    fc.constant<unknown>(Items.key('other')),
    fc.record({ kind: anyValue, name: anyValue }),
    fc.record({ kind: fc.constant('Item'), name: anyValue }),
    anyValue,
  );
  const keysArb = fc.oneof(anyValue, fc.array(keyArb, { maxLength: 4 }));
  const entityArb = fc.oneof(anyValue, fc.record({ n: anyValue }), fc.constant({ n: 2 }));
  const entriesArb = fc.oneof(
    anyValue,
    fc.array(fc.oneof(anyValue, fc.record({ key: keyArb, entity: entityArb })), { maxLength: 3 }),
  );
  const numberArb = fc.oneof(anyValue, fc.integer({ min: -3, max: 1000 }), fc.double());
  const filterArb = fc.oneof(anyValue, fc.record({ property: anyValue, value: anyValue }));
  const queryOptions = fc.oneof(
    optionsWith(['filters', 'limit'], anyValue),
    fc.record(
      { filters: fc.oneof(anyValue, fc.array(filterArb, { maxLength: 2 })), limit: numberArb },
      { requiredKeys: [] },
    ),
  );
  const retryArb = fc.oneof(
    anyValue,
    fc.record(
      { retries: numberArb, minTimeoutMs: numberArb, maxTimeoutMs: numberArb, factor: numberArb },
      { requiredKeys: [] },
    ),
  );
  const transactOptions = fc.oneof(
    optionsWith(['retry', 'onRetry'], anyValue),
    fc.record(
      {
        retry: retryArb,
        onRetry: fc.oneof(
          anyValue,
          fc.constant(() => {}),
        ),
      },
      {
        requiredKeys: [],
      },
    ),
  );
  const workArb = fc.oneof(fc.constant<unknown>(work), anyValue);
  const kindArb = fc.oneof(
    fc.constant<unknown>(Items),
    fc.record({ name: anyValue, key: fc.oneof(anyValue, fc.constant(Items.key)) }),
    anyValue,
  );

  /** A store over a fault-injecting wrapper (to count backend calls), holding one entity. */
  async function fresh(): Promise<FaultInjectingEntityStore> {
    const inner = new MemoryEntityStore();
    await inner.save(stored, { n: 1 });
    return new FaultInjectingEntityStore(inner, { retry: { retries: 0 } });
  }

  const methods: Array<{
    readonly name: keyof EntityStore;
    readonly parameters: readonly string[];
    readonly args: fc.Arbitrary<unknown[]>;
  }> = [
    { name: 'load', parameters: ['key'], args: fc.tuple(keyArb) },
    { name: 'loadMany', parameters: ['keys'], args: fc.tuple(keysArb) },
    { name: 'save', parameters: ['key', 'entity'], args: fc.tuple(keyArb, entityArb) },
    { name: 'saveMany', parameters: ['entries'], args: fc.tuple(entriesArb) },
    { name: 'delete', parameters: ['key'], args: fc.tuple(keyArb) },
    { name: 'deleteMany', parameters: ['keys'], args: fc.tuple(keysArb) },
    { name: 'query', parameters: ['kind', 'options'], args: fc.tuple(kindArb, queryOptions) },
    { name: 'transact', parameters: ['work', 'options'], args: fc.tuple(workArb, transactOptions) },
    {
      name: 'transactNew',
      parameters: ['work', 'options'],
      args: fc.tuple(workArb, transactOptions),
    },
    { name: 'transactionless', parameters: ['work'], args: fc.tuple(workArb) },
    {
      name: 'afterCommit',
      parameters: ['callback'],
      args: fc.tuple(fc.oneof(fc.constant<unknown>(work), anyValue)),
    },
  ];

  for (const method of methods) {
    test(
      `${method.name}(${method.parameters.join(', ')})`,
      async () => {
        await fc.assert(
          fc.asyncProperty(method.args, async (args) => {
            cases.add();
            const store = await fresh();
            const call = (store as unknown as Record<string, (...a: unknown[]) => unknown>)[
              method.name
            ]!;
            const outcome = await outcomeOf(() => call.apply(store, materialize(args)));
            const error = assertRefusedOrDone(outcome, method.parameters, { async: true });
            if (error !== undefined) {
              expect(store.calls).toEqual({
                beginTransaction: 0,
                lookup: 0,
                commit: 0,
                rollback: 0,
                query: 0,
              });
              expect(await store.load(stored)).toEqual({ n: 1 });
            }
          }),
          { numRuns: RUNS },
        );
      },
      TIMEOUT_MS,
    );
  }

  test(
    'new MemoryEntityStore(options): refused, or a store whose loads and transactions finish',
    async () => {
      const limitsArb = fc.oneof(
        anyValue,
        fc.record(
          { maxLookupKeys: numberArb, maxMutationsPerCommit: numberArb },
          {
            requiredKeys: [],
          },
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            optionsWith(['limits', 'retry', 'onRetry'], anyValue),
            fc.record({ limits: limitsArb, retry: retryArb }, { requiredKeys: [] }),
          ),
          async (options) => {
            cases.add();
            const outcome = await outcomeOf(
              () => new MemoryEntityStore(materialize([options])[0] as never),
            );
            assertRefusedOrDone(outcome, ['options'], { async: false });
            if (outcome.kind !== 'resolved') return;
            const store = outcome.value as MemoryEntityStore;
            await store.saveMany([
              { key: Items.key('x'), entity: { n: 1 } },
              { key: Items.key('y'), entity: { n: 2 } },
            ]);
            const loaded = await outcomeOf(() =>
              store.loadMany([Items.key('x'), Items.key('y'), Items.key('z')]),
            );
            expect(loaded).toEqual({ kind: 'resolved', value: [{ n: 1 }, { n: 2 }, undefined] });
            expect(
              await outcomeOf(() => store.transact(async () => store.load(Items.key('x')))),
            ).toEqual({ kind: 'resolved', value: { n: 1 } });
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  test(
    'MemoryEntityBackend.query(query) refuses what the Datastore backend refuses',
    async () => {
      const backend = new MemoryEntityBackend();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            anyValue,
            fc.record(
              {
                kind: fc.oneof(fc.constant('Item'), anyValue),
                filters: fc.oneof(fc.constant([]), anyValue, fc.array(filterArb, { maxLength: 2 })),
                limit: numberArb,
              },
              { requiredKeys: ['kind', 'filters'] },
            ),
          ),
          async (query) => {
            cases.add();
            const outcome = await outcomeOf(() => backend.query(materialize([query])[0] as never));
            assertRefusedOrDone(outcome, ['query'], { async: true });
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  test('key(kind, name) and defineKind(name, options)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant('Item'), anyValue),
        fc.oneof(fc.string(), anyValue),
        (kind, name) => {
          cases.add();
          const outcome = (() => {
            try {
              const [k, n] = materialize([kind, name]);
              return { kind: 'resolved', value: key(k as string, n as string) } as const;
            } catch (error) {
              return { kind: 'threw', error } as const;
            }
          })();
          assertRefusedOrDone(outcome, ['kind', 'name'], { async: false });
        },
      ),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.constant('Item'), anyValue),
        optionsWith(['unindexed'], fc.oneof(anyValue, fc.array(anyValue, { maxLength: 3 }))),
        (name, options) => {
          cases.add();
          const outcome = (() => {
            try {
              return {
                kind: 'resolved',
                value: defineKind(name as string, options as never),
              } as const;
            } catch (error) {
              return { kind: 'threw', error } as const;
            }
          })();
          assertRefusedOrDone(outcome, ['name', 'options'], { async: false });
        },
      ),
      { numRuns: RUNS },
    );
  });
});
