/**
 * Property-based bad-input tests of PingPongCounter on the embedded adapters, each wrapped in
 * a fault-injecting store that counts every backend call: over each public method's argument
 * space (and the constructor's options), a call succeeds or is refused with a ShardcountError
 * naming the argument; never a raw TypeError/RangeError, never a hang, and a refused call
 * reaches neither the store nor the cache.
 */

import { PingPongCounter } from '@shardcount/pingpong';
import {
  InvalidArgumentError,
  MemoryCacheStore,
  MemoryEntityStore,
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
/** Registrations never fire on their own during a property: they would move the call counts. */
const NO_BACKGROUND_REGISTRATION = 2 ** 31 - 1;
const cases = new CaseCounter();

afterAll(() => {
  console.log(`pingpong bad-input properties: ${cases.count} generated cases`);
});

/** A counter over counting wrappers, with counter `a` already incremented and flushed. */
async function world() {
  let nowMs = Date.UTC(2031, 0, 1);
  const now = () => nowMs;
  const innerCache = new MemoryCacheStore({ now });
  const innerStore = new MemoryEntityStore();
  const seed = new PingPongCounter({ cache: innerCache, store: innerStore, now });
  await seed.increment('a', 5);
  nowMs += 700_000;
  await seed.flush();
  await seed.close();
  const store = new FaultInjectingEntityStore(innerStore);
  const cache = new FaultInjectingCacheStore(innerCache);
  const counter = new PingPongCounter({
    cache,
    store,
    now,
    registrationDelayMs: NO_BACKGROUND_REGISTRATION,
  });
  return { store, cache, counter };
}

/**
 * The counter's answer to a well-formed call made after reading its state, not a refusal of
 * an argument: the slot would pass `Number.MAX_SAFE_INTEGER` (the cache refuses the `incr`
 * and leaves the slot unchanged; known only once it was tried).
 */
function isCounterOutcome(outcome: Outcome): boolean {
  if (outcome.kind !== 'rejected') return false;
  const { error } = outcome;
  return error instanceof OutOfRangeError && typeof error.context.key === 'string';
}

function totalCalls(calls: object): number {
  return Object.values(calls).reduce((sum: number, n) => sum + (n as number), 0);
}

const nameArb = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'new counter', 'é'.repeat(250), 'é'.repeat(251)), weight: 3 },
  { arbitrary: fc.string({ maxLength: 6 }), weight: 1 },
  { arbitrary: anyValue, weight: 3 },
);
const deltaArb = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: -10, max: 10 }),
  fc.constantFrom(2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 60),
  anyValue,
);
const namesArb = fc.oneof(
  fc.array(nameArb, { maxLength: 4 }),
  fc.constantFrom([], ['a'], ['a', 'a'], 'a', new Set(['a'])),
  anyValue,
);

/** `signal`/`timeoutMs` options: valid ones never end a call here (no abort, long deadlines). */
const callOptionArb = fc.oneof(
  fc.constantFrom(60_000, 2 ** 31 - 1, 0, -1, 1.5, 2 ** 31, 'soon'),
  fc.constant(new AbortController().signal),
  anyValue,
);
const callOptionsArb = optionsWith(['signal', 'timeoutMs'], callOptionArb);
const listOptionArb = fc.oneof(
  fc.constantFrom('', 'a', 'x'.repeat(501), 0, 1, 1000, 1001, 'not a cursor'),
  callOptionArb,
);

const methods: Array<{
  readonly name: string;
  readonly parameters: readonly string[];
  readonly args: fc.Arbitrary<unknown[]>;
}> = [
  {
    name: 'increment',
    parameters: ['name', 'delta', 'options'],
    args: fc.tuple(nameArb, deltaArb, callOptionsArb),
  },
  { name: 'get', parameters: ['name', 'options'], args: fc.tuple(nameArb, callOptionsArb) },
  {
    name: 'getMany',
    parameters: ['names', 'options'],
    args: fc.tuple(namesArb, callOptionsArb),
  },
  {
    name: 'flush',
    parameters: ['options'],
    args: fc.tuple(
      optionsWith(['names', 'signal', 'timeoutMs'], fc.oneof(namesArb, callOptionArb)),
    ),
  },
  { name: 'reset', parameters: ['name', 'options'], args: fc.tuple(nameArb, callOptionsArb) },
  { name: 'delete', parameters: ['name', 'options'], args: fc.tuple(nameArb, callOptionsArb) },
  {
    name: 'listCounters',
    parameters: ['options'],
    args: fc.tuple(
      optionsWith(['prefix', 'limit', 'cursor', 'signal', 'timeoutMs'], listOptionArb),
    ),
  },
];

describe('PingPongCounter refuses bad input before any I/O', () => {
  for (const method of methods) {
    test(
      `${method.name}(${method.parameters.join(', ')})`,
      async () => {
        // One world per method: its counters drift as cases run (which only widens the
        // states covered); a refusal is checked by the call counts not moving.
        const { store, cache, counter } = await world();
        const call = (counter as unknown as Record<string, (...a: unknown[]) => unknown>)[
          method.name
        ]!;
        await fc.assert(
          fc.asyncProperty(method.args, async (args) => {
            cases.add();
            const before = [totalCalls(store.calls), totalCalls(cache.calls)];
            const outcome = await outcomeOf(() => call.apply(counter, materialize(args)));
            if (isCounterOutcome(outcome)) return;
            const error = assertRefusedOrDone(outcome, method.parameters, { async: true });
            if (error !== undefined) {
              expect([totalCalls(store.calls), totalCalls(cache.calls)]).toEqual(before);
            }
          }),
          { numRuns: RUNS },
        );
        await counter.close();
      },
      TIMEOUT_MS,
    );
  }

  test(
    'startFlusher(options)',
    async () => {
      const { store, cache, counter } = await world();
      const everyMsArb = fc.oneof(
        fc.constantFrom(1, 60_000, 2 ** 31 - 1, 2 ** 31, 0, -1, 1.5),
        anyValue,
      );
      const onReportArb = fc.oneof(
        fc.constant(() => undefined),
        anyValue,
      );
      const optionsArb = fc.oneof(
        anyValue,
        fc.record(
          { everyMs: everyMsArb, onReport: onReportArb, every: anyValue },
          { requiredKeys: [] },
        ),
        fc.record({ everyMs: everyMsArb, onReport: onReportArb }, { requiredKeys: ['everyMs'] }),
      );
      await fc.assert(
        fc.asyncProperty(optionsArb, async (options) => {
          cases.add();
          await counter.stopFlusher();
          const before = [totalCalls(store.calls), totalCalls(cache.calls)];
          const outcome = await outcomeOf(() =>
            (counter.startFlusher as (o: unknown) => void).call(counter, materialize([options])[0]),
          );
          // startFlusher is synchronous: no call is made before its first timer fires.
          expect([totalCalls(store.calls), totalCalls(cache.calls)]).toEqual(before);
          assertRefusedOrDone(outcome, ['options'], { async: false });
        }),
        { numRuns: RUNS },
      );
      await counter.close();
    },
    TIMEOUT_MS,
  );

  test(
    'new PingPongCounter(options): refused, or a counter whose calls finish',
    async () => {
      const numberArb = fc.oneof(
        anyValue,
        fc.integer({ min: -2, max: 5000 }),
        fc.double(),
        fc.constantFrom(999, 1000, 2 ** 31 - 1, 2 ** 31, 432_000_001, 10_000_001, 2_592_000_000),
      );
      // Valid options with at most two fields spoiled, so that every check gets reached.
      const validArb = fc.record(
        {
          intervalMs: fc.constantFrom(1000, 60_000, 600_000, 21_600_000),
          namespace: fc.constantFrom('pp', 'a.b-c_d', '9'.repeat(100)),
          onCacheUnavailable: fc.constantFrom('write-through', 'drop', 'throw'),
          settleMs: fc.constantFrom(0, 250),
          registrationDelayMs: fc.constantFrom(0, 1000, 2 ** 31 - 1),
          maxRememberedNames: fc.integer({ min: 1, max: 1000 }),
          onLoss: fc.constant(() => undefined),
          flushConcurrency: fc.integer({ min: 1, max: 1000 }),
          timeoutMs: fc.constantFrom(60_000, 2 ** 31 - 1),
        },
        { requiredKeys: [] },
      );
      const spoiledArb = fc.dictionary(
        fc.constantFrom(
          'cache',
          'store',
          'intervalMs',
          'namespace',
          'onCacheUnavailable',
          'retentionMs',
          'settleMs',
          'registrationDelayMs',
          'maxRememberedNames',
          'onLoss',
          'flushConcurrency',
          'timeoutMs',
          'now',
          'slotTtlIntervals',
          'interval',
        ),
        fc.oneof(
          numberArb,
          fc.constantFrom('drop', 'ignore', '_x', 'has:colon', '', 'x'.repeat(101)),
        ),
        { maxKeys: 2 },
      );
      const optionsArb = fc.oneof(
        { arbitrary: anyValue, weight: 1 },
        {
          arbitrary: fc.tuple(validArb, spoiledArb).map(([valid, spoiled]) => ({
            cache: 'valid',
            store: 'valid',
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
          const outcome = await outcomeOf(() => new PingPongCounter(options as never));
          assertRefusedOrDone(outcome, ['options'], { async: false });
          expect(totalCalls(store.calls)).toBe(0);
          expect(totalCalls(cache.calls)).toBe(0);
          if (outcome.kind !== 'resolved') return;
          constructed += 1;
          const counter = outcome.value as PingPongCounter;
          for (const step of [
            () => counter.increment('n', 2),
            () => counter.get('n'),
            () => counter.flush(),
            () => counter.close(),
          ]) {
            const done = await outcomeOf(step);
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

describe('options refused at construction, each naming its option', () => {
  const cache = new MemoryCacheStore();
  const store = new MemoryEntityStore();
  const table: Array<[string, Record<string, unknown>, string]> = [
    ['intervalMs past 5 days', { intervalMs: 432_000_001 }, 'options.intervalMs'],
    ['retentionMs past the TTL limit', { retentionMs: 30 * 86_400_000 }, 'options.retentionMs'],
    [
      'default retention too short for a long interval',
      { intervalMs: 21_600_001 },
      'options.retentionMs',
    ],
    ['registrationDelayMs 2^31', { registrationDelayMs: 2 ** 31 }, 'options.registrationDelayMs'],
    ['settleMs = intervalMs', { intervalMs: 1000, settleMs: 1000 }, 'options.settleMs'],
    ['flushConcurrency past 1000', { flushConcurrency: 1001 }, 'options.flushConcurrency'],
    ['unknown option', { interval: 1000 }, 'options.interval'],
    ['null is a value', { namespace: null }, 'options.namespace'],
    ['no store', { store: undefined }, 'options.store'],
    ['a cache without getMany', { cache: { incr() {} } }, 'options.cache.getMany'],
  ];
  for (const [label, extra, argument] of table) {
    it(label, () => {
      let thrown: unknown;
      try {
        new PingPongCounter({ cache, store, ...extra } as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as InvalidArgumentError).context.argument).toBe(argument);
    });
  }

  it('slotTtlIntervals (removed) says what replaced it', () => {
    expect(() => new PingPongCounter({ cache, store, slotTtlIntervals: 3 } as never)).toThrow(
      /slotTtlIntervals was removed: slots now live for retentionMs/,
    );
  });
});

describe('the defects issue 12 listed for pingpong', () => {
  it('startFlusher({ everyMs: 2 ** 31 }) is refused (Node would fire it every 1 ms)', async () => {
    const counter = new PingPongCounter({
      cache: new MemoryCacheStore(),
      store: new MemoryEntityStore(),
    });
    expect(() => counter.startFlusher({ everyMs: 2 ** 31 })).toThrow(
      expect.objectContaining({ context: { argument: 'options.everyMs' } }),
    );
    await counter.close();
  });

  it('flush(null) and flush("x") are refused, naming options, with no backend call', async () => {
    const { store, cache, counter } = await world();
    for (const bad of [null, 'x', ['a'], { names: ['a'], name: 'a' }]) {
      await expect(counter.flush(bad as never)).rejects.toMatchObject({
        name: 'InvalidArgumentError',
        context: { argument: expect.stringMatching(/^options/) },
      });
    }
    expect(totalCalls(store.calls) + totalCalls(cache.calls)).toBe(0);
    await counter.close();
  });
});
