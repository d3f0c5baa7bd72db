/**
 * Property-based bad-input tests of ShardedCounterService on the embedded adapters, each
 * wrapped in a fault-injecting store that counts every backend call: over each public
 * method's argument space (and the constructor's options), a call succeeds, fails for a
 * reason of the counter's own (not found, exists, read-only, short), or is refused with a
 * ShardcountError naming the argument; never a raw TypeError/RangeError, never a hang, and a
 * refused call reaches neither the store nor the cache.
 */
import {
  CounterExistsError,
  CounterNotFoundError,
  CounterNotMutableError,
  CounterStatus,
  InsufficientCountError,
  MAX_SHARDS,
  ShardedCounterService,
} from '@shardcount/core';
import {
  AmbiguousCommitError,
  DeadlineExceededError,
  InvalidArgumentError,
  LimitExceededError,
  MemoryCacheStore,
  MemoryEntityStore,
  OperationAbortedError,
  OutOfRangeError,
} from '@shardcount/storage';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import fc from 'fast-check';
import { afterAll, describe, expect, it, test } from 'vitest';
import {
  anyValue,
  assertRefusedOrDone,
  CaseCounter,
  materialize,
  type Outcome,
  optionsWith,
  outcomeOf,
} from '../../storage/test/support/bad-input.js';

const RUNS = 150;
const TIMEOUT_MS = 60_000;
const cases = new CaseCounter();

afterAll(() => {
  console.log(`core bad-input properties: ${cases.count} generated cases`);
});

/** A service over counting wrappers, with counter `a` (count 5) and read-only `ro` already there. */
async function world() {
  const innerStore = new MemoryEntityStore();
  const innerCache = new MemoryCacheStore();
  const seed = new ShardedCounterService({ store: innerStore, cache: innerCache });
  await seed.increment('a', 5);
  await seed.createCounter('ro', { numShards: 2 });
  await seed.updateCounter('ro', { status: CounterStatus.READ_ONLY_COUNT });
  const store = new FaultInjectingEntityStore(innerStore);
  const cache = new FaultInjectingCacheStore(innerCache);
  const service = new ShardedCounterService({ store, cache });
  return { store, cache, service };
}

function totalCalls(calls: object): number {
  return Object.values(calls).reduce((sum: number, n) => sum + (n as number), 0);
}

/**
 * Failures that are the counter's answer to a well-formed call (made after reading it), not a
 * refusal of an argument.
 */
function isCounterOutcome(outcome: Outcome): boolean {
  if (outcome.kind !== 'rejected') return false;
  const { error } = outcome;
  return (
    error instanceof CounterNotFoundError ||
    error instanceof CounterExistsError ||
    error instanceof CounterNotMutableError ||
    error instanceof InsufficientCountError ||
    error instanceof LimitExceededError ||
    // A well-formed signal or deadline that ended: the call's own answer.
    error instanceof OperationAbortedError ||
    error instanceof DeadlineExceededError ||
    // ... also while a commit was in flight (a deadline of a few ms).
    error instanceof AmbiguousCommitError ||
    // The total would pass Number.MAX_SAFE_INTEGER: known only once the shards are read.
    (error instanceof OutOfRangeError && error.context.argument === undefined)
  );
}

const nameArb = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'ro', 'new counter', 'é'.repeat(750)), weight: 3 },
  { arbitrary: fc.string({ maxLength: 6 }), weight: 1 },
  { arbitrary: anyValue, weight: 3 },
);
const amountArb = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: 1, max: 10 }),
  fc.constantFrom(2 ** 53 - 1, 2 ** 53, 2 ** 60),
  anyValue,
);
const shardsArb = fc.oneof(
  fc.integer({ min: 1, max: 6 }),
  fc.constantFrom(MAX_SHARDS, MAX_SHARDS + 1),
  anyValue,
);
const writeValueArb = fc.oneof(fc.boolean(), fc.constantFrom('k1', 'upTo', 'exact', ' '), anyValue);
/** Values for `signal` and `timeoutMs`: good ones (live, aborted, short, long) and anything. */
const callValueArb = fc.oneof(
  fc.constantFrom(AbortSignal.abort(), new AbortController().signal, 1, 5000, 0, 2 ** 31, 1.5),
  anyValue,
);
const CALL = ['signal', 'timeoutMs'] as const;

const methods: Array<{
  readonly name: string;
  readonly parameters: readonly string[];
  readonly args: fc.Arbitrary<unknown[]>;
}> = [
  {
    name: 'increment',
    parameters: ['name', 'amount', 'options'],
    args: fc.tuple(
      nameArb,
      amountArb,
      optionsWith(
        ['isolated', 'idempotencyKey', 'mode', ...CALL],
        fc.oneof(writeValueArb, callValueArb),
      ),
    ),
  },
  {
    name: 'decrement',
    parameters: ['name', 'amount', 'options'],
    args: fc.tuple(
      nameArb,
      amountArb,
      optionsWith(
        ['isolated', 'idempotencyKey', 'mode', ...CALL],
        fc.oneof(writeValueArb, callValueArb),
      ),
    ),
  },
  {
    name: 'getCounter',
    parameters: ['name', 'options'],
    args: fc.tuple(
      nameArb,
      optionsWith(['skipCache', ...CALL], fc.oneof(fc.boolean(), callValueArb, anyValue)),
    ),
  },
  {
    name: 'getCounters',
    parameters: ['names', 'options'],
    args: fc.tuple(
      fc.oneof(fc.array(nameArb, { maxLength: 4 }), anyValue),
      optionsWith(['skipCache', ...CALL], fc.oneof(fc.boolean(), callValueArb, anyValue)),
    ),
  },
  {
    name: 'listCounters',
    parameters: ['options'],
    args: fc.tuple(
      optionsWith(
        ['prefix', 'status', 'limit', 'cursor', ...CALL],
        fc.oneof(
          fc.constantFrom('', 'a', 'AVAILABLE', 'GONE', 0, 1, 1000, 1001, '1.bjph', '1.'),
          callValueArb,
          anyValue,
        ),
      ),
    ),
  },
  {
    name: 'resumeDeletions',
    parameters: ['options'],
    args: fc.tuple(optionsWith([...CALL], callValueArb)),
  },
  {
    name: 'resumeInterrupted',
    parameters: ['options'],
    args: fc.tuple(optionsWith([...CALL], callValueArb)),
  },
  {
    name: 'createCounter',
    parameters: ['name', 'options'],
    args: fc.tuple(
      nameArb,
      optionsWith(
        ['numShards', 'description', ...CALL],
        fc.oneof(shardsArb, fc.constantFrom('', 'views', 'd'.repeat(1501)), callValueArb),
      ),
    ),
  },
  {
    name: 'updateCounter',
    parameters: ['name', 'options'],
    args: fc.tuple(
      nameArb,
      optionsWith(
        ['numShards', 'description', 'status', ...CALL],
        fc.oneof(
          shardsArb,
          fc.constantFrom('views', 'AVAILABLE', 'READ_ONLY_COUNT', 'DELETING', 'RESETTING'),
          callValueArb,
        ),
      ),
    ),
  },
  {
    name: 'reset',
    parameters: ['name', 'options'],
    args: fc.tuple(nameArb, optionsWith([...CALL], callValueArb)),
  },
  {
    name: 'delete',
    parameters: ['name', 'options'],
    args: fc.tuple(nameArb, optionsWith(['wait', ...CALL], fc.oneof(fc.boolean(), callValueArb))),
  },
];

describe('ShardedCounterService refuses bad input before any I/O', () => {
  for (const method of methods) {
    test(
      `${method.name}(${method.parameters.join(', ')})`,
      async () => {
        // One world per method: its counters drift as cases run (which only widens the
        // states covered); a refusal is checked by the call counts not moving.
        const { store, cache, service } = await world();
        const call = (service as unknown as Record<string, (...a: unknown[]) => unknown>)[
          method.name
        ]!;
        await fc.assert(
          fc.asyncProperty(method.args, async (args) => {
            cases.add();
            const before = [totalCalls(store.calls), totalCalls(cache.calls)];
            const outcome = await outcomeOf(() => call.apply(service, materialize(args)));
            if (isCounterOutcome(outcome)) return;
            const error = assertRefusedOrDone(outcome, method.parameters, { async: true });
            if (error !== undefined) {
              expect([totalCalls(store.calls), totalCalls(cache.calls)]).toEqual(before);
            }
          }),
          { numRuns: RUNS },
        );
      },
      TIMEOUT_MS,
    );
  }

  test(
    'on(event, listener)',
    async () => {
      const service = new ShardedCounterService({
        store: new MemoryEntityStore(),
        cache: new MemoryCacheStore(),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(
            fc.oneof(fc.constantFrom('contention', 'cacheHit', 'shardsGrown'), anyValue),
            fc.oneof(
              fc.constant(() => undefined),
              anyValue,
            ),
          ),
          async (args) => {
            cases.add();
            const outcome = await outcomeOf(() =>
              (service.on as (...a: unknown[]) => unknown).apply(service, materialize(args)),
            );
            assertRefusedOrDone(outcome, ['event', 'listener'], { async: false });
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  test(
    'new ShardedCounterService(options): refused, or a service whose calls finish',
    async () => {
      const numberArb = fc.oneof(
        anyValue,
        fc.integer({ min: -2, max: 5000 }),
        fc.double(),
        fc.constantFrom(2 ** 31 - 1, 2 ** 31, 10_000_001),
      );
      const retryArb = fc.oneof(
        anyValue,
        fc.constantFrom('many', { retries: -1 }, { retries: 3, minTimeoutMs: 50, maxTimeoutMs: 5 }),
        fc.dictionary(
          fc.constantFrom('retries', 'minTimeoutMs', 'maxTimeoutMs', 'factor', 'tries'),
          numberArb,
          { maxKeys: 3 },
        ),
      );
      const autoShardArb = fc.oneof(
        anyValue,
        fc.record(
          { maxShards: shardsArb, cooldownMs: numberArb, extra: anyValue },
          { requiredKeys: [] },
        ),
      );
      // Valid options with at most two fields spoiled, so that every check gets reached.
      const validArb = fc.record(
        {
          numInitialShards: fc.integer({ min: 1, max: 6 }),
          cacheTtlSeconds: fc.integer({ min: 1, max: 100 }),
          cacheLeaseTtlSeconds: fc.integer({ min: 1, max: 10 }),
          cacheTimeoutMs: fc.constantFrom(1, 1000, 2 ** 31 - 1),
          cacheCasRetries: fc.integer({ min: 0, max: 10 }),
          cacheKeyPrefix: fc.constantFrom('p:', ''),
          kindPrefix: fc.constantFrom('T', ''),
          metadataTtlMs: fc.integer({ min: 1, max: 10_000 }),
          metadataMaxEntries: fc.integer({ min: 1, max: 1000 }),
          idempotencyTtlSeconds: fc.integer({ min: 1, max: 1_000_000 }),
          retry: fc.record(
            {
              retries: fc.integer({ min: 0, max: 5 }),
              minTimeoutMs: fc.integer({ min: 0, max: 20 }),
              maxTimeoutMs: fc.integer({ min: 20, max: 1000 }),
              factor: fc.double({ min: 1, max: 3, noNaN: true }),
            },
            { requiredKeys: [] },
          ),
          autoShard: fc.record(
            {
              maxShards: fc.integer({ min: 1, max: 8 }),
              cooldownMs: fc.constantFrom(0, 1000, 2 ** 31 - 1),
            },
            { requiredKeys: ['maxShards'] },
          ),
          maxWritesPerTransaction: fc.integer({ min: 2, max: 500 }),
          timeoutMs: fc.constantFrom(10_000, 2 ** 31 - 1),
        },
        { requiredKeys: [] },
      );
      const spoiledArb = fc.dictionary(
        fc.constantFrom(
          'store',
          'cache',
          'numInitialShards',
          'cacheTtlSeconds',
          'cacheLeaseTtlSeconds',
          'cacheTimeoutMs',
          'cacheCasRetries',
          'cacheKeyPrefix',
          'kindPrefix',
          'metadataTtlMs',
          'metadataMaxEntries',
          'idempotencyTtlSeconds',
          'retry',
          'autoShard',
          'maxWritesPerTransaction',
          'timeoutMs',
          'cacheTtl',
        ),
        fc.oneof(
          numberArb,
          retryArb,
          autoShardArb,
          shardsArb,
          fc.constantFrom('__', 'k'.repeat(1500)),
        ),
        { maxKeys: 2 },
      );
      const optionsArb = fc.oneof(
        { arbitrary: anyValue, weight: 1 },
        {
          arbitrary: fc.tuple(validArb, spoiledArb).map(([valid, spoiled]) => ({
            store: 'valid',
            cache: 'valid',
            ...valid,
            ...spoiled,
          })),
          weight: 6,
        },
      );
      let constructed = 0;
      await fc.assert(
        fc.asyncProperty(optionsArb, async (generated) => {
          cases.add();
          const store = new FaultInjectingEntityStore(new MemoryEntityStore());
          const cache = new FaultInjectingCacheStore(new MemoryCacheStore());
          const [materialized] = materialize([generated]);
          let options = materialized;
          if (typeof generated === 'object' && generated !== null) {
            const g = generated as { store?: unknown; cache?: unknown };
            if (g.store === 'valid') options = { ...(options as object), store };
            if (g.cache === 'valid') options = { ...(options as object), cache };
          }
          const outcome = await outcomeOf(() => new ShardedCounterService(options as never));
          assertRefusedOrDone(outcome, ['options'], { async: false });
          expect(totalCalls(store.calls)).toBe(0);
          expect(totalCalls(cache.calls)).toBe(0);
          if (outcome.kind !== 'resolved') return;
          constructed += 1;
          const service = outcome.value as ShardedCounterService;
          for (const step of [
            () => service.increment('n', 2),
            () => service.getCounter('n'),
            () => service.decrement('n', 1),
          ]) {
            const done = await outcomeOf(step);
            // A service-wide deadline of a few ms may pass first: its own, typed answer.
            if (done.kind === 'rejected' && done.error instanceof DeadlineExceededError) continue;
            expect(done.kind).toBe('resolved');
          }
        }),
        { numRuns: RUNS * 2 },
      );
      console.log(`constructor: ${constructed} of ${RUNS * 2} generated options accepted`);
    },
    TIMEOUT_MS,
  );
});

describe('constructor options refused at construction (formerly at the first transaction)', () => {
  const store = new MemoryEntityStore();
  const cache = new MemoryCacheStore();
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['retry.retries -1', { retry: { retries: -1 } }, 'options.retry.retries'],
    ['retry as a string', { retry: 'many' }, 'options.retry'],
    ['negative retry timeout', { retry: { minTimeoutMs: -5 } }, 'options.retry.minTimeoutMs'],
    ['min above max', { retry: { minTimeoutMs: 5000 } }, 'options.retry.minTimeoutMs'],
    ['kindPrefix a number', { kindPrefix: 5 }, 'options.kindPrefix'],
    ['kindPrefix an object', { kindPrefix: {} }, 'options.kindPrefix'],
    ['kindPrefix reserved', { kindPrefix: '__' }, 'options.kindPrefix'],
    ['cacheTimeoutMs 2^31', { cacheTimeoutMs: 2 ** 31 }, 'options.cacheTimeoutMs'],
    [
      'cooldownMs 2^31',
      { autoShard: { maxShards: 8, cooldownMs: 2 ** 31 } },
      'options.autoShard.cooldownMs',
    ],
    ['autoShard unknown field', { autoShard: { maxShards: 8, max: 3 } }, 'options.autoShard.max'],
    ['unknown option', { cacheTtl: 5 }, 'options.cacheTtl'],
    ['null is a value', { numInitialShards: null }, 'options.numInitialShards'],
    ['no store', { store: undefined }, 'options.store'],
  ];
  for (const [label, extra, argument] of cases) {
    it(label, () => {
      let thrown: unknown;
      try {
        new ShardedCounterService({ store, cache, ...extra } as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as InvalidArgumentError).context.argument).toBe(argument);
    });
  }
});
