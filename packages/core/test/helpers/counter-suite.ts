import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  CounterExistsError,
  CounterNotFoundError,
  CounterNotMutableError,
  CounterStatus,
  InsufficientCountError,
  MAX_SHARDS,
  type ShardedCounterService,
} from '@shardcount/core';
import {
  AmbiguousCommitError,
  ContentionError,
  defineKind,
  InvalidArgumentError,
  LimitExceededError,
  OutOfRangeError,
  StoreUnavailableError,
} from '@shardcount/storage';
import { FaultInjectingCacheStore, FaultInjectingEntityStore } from '@shardcount/storage/testing';
import { v4 as uuidv4 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { counterKinds, shardKey } from '../../src/counter-entities.js';
import { type CounterSuiteSettings, useCounterEnv } from './counter-env.js';
import { CrashingEntityStore } from './crashing-entity-store.js';
import { EntityGroupLimitedStore } from './entity-group-limited-store.js';
import { GatedEntityStore } from './gated-entity-store.js';

/** Shard entities as stored, to check what really exists. */
interface ShardRow {
  counterName: string;
  index: number;
  count: number;
}
const Shards = defineKind<ShardRow>('ShardcountShard');
const Operations = defineKind<{ counterName: string }>('ShardcountOperation');
const Orders = defineKind<{ item: string; quantity: number }>('CoreTestOrder');

/**
 * The scenarios every adapter pair must pass: the Java design's, concurrency, faults, costs
 * and bad input. Each test uses counters with fresh random names.
 */
export function runCounterSuite(settings: CounterSuiteSettings): void {
  const scope = useCounterEnv(settings);
  const { unique, service } = scope;
  const totalKey = (name: string): string => `${scope.env.cacheKeyPrefix}${name}`;
  const shardRows = async (name: string): Promise<ShardRow[]> =>
    (
      await scope.env.store.query(Shards, { filters: [{ property: 'counterName', value: name }] })
    ).map((row) => row.entity);
  const recordRows = async (name: string): Promise<number> =>
    (
      await scope.env.store.query(Operations, {
        filters: [{ property: 'counterName', value: name }],
      })
    ).length;
  const count = async (s: ShardedCounterService, name: string, skipCache = false) =>
    (await s.getCounter(name, { skipCache }))?.count;
  /** Writes shard i = i + 1 for `numShards` shards in one commit; returns the total. */
  const seedShards = async (name: string, numShards: number): Promise<number> => {
    const kinds = counterKinds('Shardcount');
    const now = new Date();
    await scope.env.store.saveMany(
      Array.from({ length: numShards }, (_, index) => ({
        key: shardKey(kinds, name, index),
        entity: { counterName: name, index, count: index + 1, createdAt: now, updatedAt: now },
      })),
    );
    return (numShards * (numShards + 1)) / 2;
  };
  const faulty = () => {
    const store = new FaultInjectingEntityStore(scope.env.store);
    const cache = new FaultInjectingCacheStore(scope.env.cache);
    return { store, cache };
  };

  describe(`ShardedCounterService on ${settings.label}`, () => {
    describe("the Java design's scenarios", () => {
      const modes = ['cache kept', 'cache cleared before', 'cache cleared after'] as const;
      // Independent counters: the nine sequences run side by side to keep the suite fast.
      describe.concurrent('sequential increments', () => {
        for (const shards of [1, 3, 10]) {
          for (const mode of modes) {
            it(`${shards} shard(s), ${mode}: ${settings.sequentialIncrements} increments by 1, exact after each`, async () => {
              const s = service({ numInitialShards: shards });
              const name = unique('seq');
              const n = settings.sequentialIncrements;
              for (let i = 1; i <= n; i++) {
                if (mode === 'cache cleared before') await scope.env.cache.delete(totalKey(name));
                const op = await s.increment(name);
                expect(op).toMatchObject({
                  counterName: name,
                  type: 'INCREMENT',
                  appliedAmount: 1,
                  counterCreated: i === 1,
                  replayed: false,
                });
                expect(op.shardIndex).toBeGreaterThanOrEqual(0);
                expect(op.shardIndex).toBeLessThan(shards);
                if (mode === 'cache cleared after') await scope.env.cache.delete(totalKey(name));
                expect(await count(s, name)).toBe(i);
              }
              expect(await s.getCounter(name, { skipCache: true })).toMatchObject({
                name,
                count: n,
                numShards: shards,
                status: CounterStatus.AVAILABLE,
              });
              const rows = await shardRows(name);
              expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(n);
              expect(rows.every((r) => r.index < shards)).toBe(true);
              // Random shard choice: with several shards, 50 increments never all land on one.
              if (shards > 1 && n >= 20)
                expect(rows.filter((r) => r.count > 0).length).toBeGreaterThan(1);
            });
          }
        }
      });

      it('createCounter honours numShards and description; a second create fails', async () => {
        const s = service();
        const name = unique('create');
        const created = await s.createCounter(name, { numShards: 10, description: 'signups' });
        expect(created).toMatchObject({ name, numShards: 10, description: 'signups', count: 0 });
        expect(created.status).toBe(CounterStatus.AVAILABLE);
        await expect(s.createCounter(name)).rejects.toThrow(CounterExistsError);
        await expect(s.createCounter(name)).rejects.toThrow(/already exists/);
        await s.increment(name, 7);
        expect(await s.getCounter(name)).toMatchObject({ numShards: 10, count: 7 });
      });

      it('two counters interleaved stay independent', async () => {
        const s = service();
        const a = unique('a');
        const b = unique('b');
        for (let i = 1; i <= 10; i++) {
          await s.increment(a);
          await s.increment(b, 2);
          expect(await count(s, a)).toBe(i);
          expect(await count(s, b)).toBe(2 * i);
        }
        await s.decrement(a, 3);
        expect(await count(s, a)).toBe(7);
        expect(await count(s, b)).toBe(20);
      });

      it('decrements to zero and past zero: no shard below zero, appliedAmount says what was removed', async () => {
        const s = service({ numInitialShards: 3 });
        const name = unique('dec');
        for (let i = 0; i < 10; i++) await s.increment(name);
        for (let left = 9; left >= 0; left--) {
          const op = await s.decrement(name);
          expect(op).toMatchObject({ type: 'DECREMENT', appliedAmount: 1, counterName: name });
          expect(await count(s, name)).toBe(left);
        }
        const past = await s.decrement(name, 5);
        expect(past.appliedAmount).toBe(0);
        expect(await count(s, name)).toBe(0);
        expect(await count(s, name, true)).toBe(0);
        await s.increment(name, 3);
        const more = await s.decrement(name, 5);
        expect(more.appliedAmount).toBe(3);
        expect(await count(s, name)).toBe(0);
        expect((await shardRows(name)).every((r) => r.count === 0)).toBe(true);
      });

      it('a decrement spanning several shards takes from each, none below zero', async () => {
        const s = service();
        const name = unique('span');
        await s.createCounter(name, { numShards: 5 });
        for (let i = 0; i < 20; i++) await s.increment(name, 2);
        const op = await s.decrement(name, 33);
        expect(op.appliedAmount).toBe(33);
        expect(await count(s, name)).toBe(7);
        expect(await count(s, name, true)).toBe(7);
        const rows = await shardRows(name);
        expect(rows.every((r) => r.count >= 0)).toBe(true);
        expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(7);
      });

      it('decrementing a counter that does not exist removes nothing and creates nothing', async () => {
        const s = service();
        const name = unique('nothing');
        expect((await s.decrement(name, 4)).appliedAmount).toBe(0);
        expect(await s.getCounter(name)).toBeUndefined();
        expect(await s.getCounter(name, { skipCache: true })).toBeUndefined();
        await expect(s.decrement(name, 1, { mode: 'exact' })).rejects.toThrow(
          InsufficientCountError,
        );
      });

      it("mode 'exact' removes exactly the amount across shards, or nothing", async () => {
        const s = service();
        const name = unique('exact');
        await s.createCounter(name, { numShards: 4 });
        for (let i = 0; i < 12; i++) await s.increment(name);
        const op = await s.decrement(name, 10, { mode: 'exact' });
        expect(op.appliedAmount).toBe(10);
        expect(await count(s, name)).toBe(2);
        const short = s.decrement(name, 3, { mode: 'exact' });
        await expect(short).rejects.toThrow(InsufficientCountError);
        await expect(s.decrement(name, 3, { mode: 'exact' })).rejects.toThrow(/holds 2/);
        expect(await count(s, name)).toBe(2);
        expect(await count(s, name, true)).toBe(2);
        expect((await s.decrement(name, 2, { mode: 'exact' })).appliedAmount).toBe(2);
        expect(await count(s, name)).toBe(0);
      });

      it('reset sets the count to zero; resetting a missing or read-only counter fails', async () => {
        const s = service();
        const name = unique('reset');
        for (let i = 0; i < 9; i++) await s.increment(name, 3);
        expect(await count(s, name)).toBe(27);
        await s.reset(name);
        expect(await count(s, name)).toBe(0);
        expect(await count(s, name, true)).toBe(0);
        await s.increment(name);
        expect(await count(s, name)).toBe(1);
        await expect(s.reset(unique('missing'))).rejects.toThrow(CounterNotFoundError);
        await s.updateCounter(name, { status: CounterStatus.READ_ONLY_COUNT });
        await expect(s.reset(name)).rejects.toThrow(CounterNotMutableError);
        await expect(s.reset(name)).rejects.toThrow(/READ_ONLY_COUNT/);
        expect(await count(s, name)).toBe(1);
      });

      it('READ_ONLY_COUNT refuses increments and decrements with a clear message, reads still work', async () => {
        const s = service();
        const name = unique('ro');
        await s.increment(name, 5);
        const updated = await s.updateCounter(name, {
          status: CounterStatus.READ_ONLY_COUNT,
          description: 'frozen',
        });
        expect(updated).toMatchObject({
          status: 'READ_ONLY_COUNT',
          description: 'frozen',
          count: 5,
        });
        await expect(s.increment(name)).rejects.toThrow(CounterNotMutableError);
        await expect(s.increment(name)).rejects.toThrow(/READ_ONLY_COUNT/);
        await expect(s.decrement(name)).rejects.toThrow(CounterNotMutableError);
        await expect(s.decrement(name, 1, { mode: 'exact' })).rejects.toThrow(
          CounterNotMutableError,
        );
        expect(await s.getCounter(name)).toMatchObject({ count: 5, status: 'READ_ONLY_COUNT' });
        await s.updateCounter(name, { status: CounterStatus.AVAILABLE });
        await s.increment(name);
        expect(await count(s, name)).toBe(6);
      });

      it('updateCounter rules: only AVAILABLE/READ_ONLY_COUNT settable, missing counters fail', async () => {
        const s = service();
        const name = unique('upd');
        await s.increment(name);
        for (const status of ['DELETING', 'RESETTING', 'CHANGING_SHARDS', 'available']) {
          await expect(
            s.updateCounter(name, { status: status as typeof CounterStatus.AVAILABLE }),
          ).rejects.toThrow(/AVAILABLE or READ_ONLY_COUNT/);
        }
        await expect(s.updateCounter(unique('missing'), { description: 'x' })).rejects.toThrow(
          CounterNotFoundError,
        );
        await expect(s.updateCounter(name, { numShards: MAX_SHARDS + 1 })).rejects.toThrow(
          InvalidArgumentError,
        );
      });

      it('growing shards keeps the count and spreads new increments', async () => {
        const s = service({ numInitialShards: 1 });
        const name = unique('grow');
        for (let i = 0; i < 5; i++) await s.increment(name);
        const grown = await s.updateCounter(name, { numShards: 8 });
        expect(grown).toMatchObject({ numShards: 8, count: 5, status: 'AVAILABLE' });
        for (let i = 0; i < 30; i++) await s.increment(name);
        expect(await count(s, name)).toBe(35);
        expect(await count(s, name, true)).toBe(35);
        expect((await shardRows(name)).filter((r) => r.count > 0).length).toBeGreaterThan(1);
      });

      it('shrinking shards moves counts into the kept shards; the total never changes', async () => {
        const s = service();
        const name = unique('shrink');
        await s.createCounter(name, { numShards: 10 });
        for (let i = 1; i <= 20; i++) await s.increment(name, i);
        const shrunk = await s.updateCounter(name, { numShards: 3 });
        expect(shrunk).toMatchObject({ numShards: 3, count: 210, status: 'AVAILABLE' });
        expect(await count(s, name)).toBe(210);
        const rows = await shardRows(name);
        expect(rows.every((r) => r.index < 3)).toBe(true);
        expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(210);
        for (let i = 0; i < 10; i++) expect((await s.increment(name)).shardIndex).toBeLessThan(3);
        expect(await count(s, name)).toBe(220);
      });

      it('delete removes shards, records and counter; the name can be used again', async () => {
        const s = service();
        const name = unique('del');
        await s.createCounter(name, { numShards: 4 });
        for (let i = 0; i < 8; i++) await s.increment(name, 1, { idempotencyKey: `k${i}` });
        expect(await recordRows(name)).toBe(8);
        expect(await s.delete(name)).toBe(true);
        expect(await s.getCounter(name)).toBeUndefined();
        expect(await s.getCounter(name, { skipCache: true })).toBeUndefined();
        expect(await shardRows(name)).toHaveLength(0);
        expect(await recordRows(name)).toBe(0);
        expect(await s.delete(name)).toBe(false);
        const again = await s.increment(name, 1, { idempotencyKey: 'k0' });
        expect(again).toMatchObject({ counterCreated: true, replayed: false });
        expect(await count(s, name)).toBe(1);
      });

      it('any counter name up to 1500 bytes works, including ones a plain key could not hold', async () => {
        const s = service();
        const names = [
          `${'é'.repeat(700)}-${uuidv4()}`.slice(0, 740), // ~1480 bytes, multi-byte
          `${'n'.repeat(1500 - 37)}${uuidv4()}-`, // exactly 1500 bytes
          `__${uuidv4()}__`, // a reserved Datastore key name pattern
          `with spaces and # and / ${uuidv4()}`,
        ];
        for (const name of names) {
          expect(Buffer.byteLength(name, 'utf8')).toBeLessThanOrEqual(1500);
          await s.increment(name, 2);
          await s.increment(name, 3);
          expect(await s.getCounter(name)).toMatchObject({ name, count: 5 });
          expect(await count(s, name, true)).toBe(5);
          expect(await s.delete(name)).toBe(true);
          expect(await s.getCounter(name)).toBeUndefined();
        }
        // Two names sharing a long prefix stay apart even when both keys are hashed.
        const base = 'p'.repeat(1495);
        await s.increment(`${base}-aaa`, 1);
        await s.increment(`${base}-bbb`, 2);
        expect(await count(s, `${base}-aaa`, true)).toBe(1);
        expect(await count(s, `${base}-bbb`, true)).toBe(2);
        await s.delete(`${base}-aaa`);
        await s.delete(`${base}-bbb`);
      });

      it('a total that would pass Number.MAX_SAFE_INTEGER is refused and nothing is written', async () => {
        const s = service();
        const name = unique('big');
        await s.increment(name, Number.MAX_SAFE_INTEGER - 5);
        await expect(s.increment(name, 10)).rejects.toThrow(OutOfRangeError);
        await expect(s.increment(name, 10)).rejects.toThrow(/MAX_SAFE_INTEGER/);
        expect(await count(s, name, true)).toBe(Number.MAX_SAFE_INTEGER - 5);
        expect(await count(s, name)).toBe(Number.MAX_SAFE_INTEGER - 5);
        await s.increment(name, 5);
        expect(await count(s, name)).toBe(Number.MAX_SAFE_INTEGER);
        await expect(s.increment(name)).rejects.toThrow(OutOfRangeError);
        expect(await count(s, name, true)).toBe(Number.MAX_SAFE_INTEGER);
        // Spread over other shards, the check still sees the whole total.
        await s.decrement(name, Number.MAX_SAFE_INTEGER - 1);
        const other = unique('big2');
        await s.createCounter(other, { numShards: 4 });
        for (let i = 0; i < 3; i++) await s.increment(other, 2 ** 51);
        // 4 * 2**51 = 2**53 is one past Number.MAX_SAFE_INTEGER.
        await expect(s.increment(other, 2 ** 51)).rejects.toThrow(OutOfRangeError);
        await s.increment(other, 2 ** 51 - 1);
        expect(await count(s, other, true)).toBe(Number.MAX_SAFE_INTEGER);
      });
    });

    describe('idempotency keys', () => {
      it('a repeated key applies once and returns the first operation', async () => {
        const s = service();
        const name = unique('idem');
        const first = await s.increment(name, 4, { idempotencyKey: 'order-1' });
        const second = await s.increment(name, 4, { idempotencyKey: 'order-1' });
        expect(second).toMatchObject({ id: first.id, appliedAmount: 4, replayed: true });
        expect(second.shardIndex).toBe(first.shardIndex);
        expect(await count(s, name)).toBe(4);
        await s.increment(name, 4, { idempotencyKey: 'order-2' });
        expect(await count(s, name)).toBe(8);
        await expect(s.increment(name, 5, { idempotencyKey: 'order-1' })).rejects.toThrow(
          /already used/,
        );
        const dec = await s.decrement(name, 3, { mode: 'exact', idempotencyKey: 'refund-1' });
        const decAgain = await s.decrement(name, 3, { mode: 'exact', idempotencyKey: 'refund-1' });
        expect(decAgain).toMatchObject({ id: dec.id, replayed: true, appliedAmount: 3 });
        expect(await count(s, name)).toBe(5);
        expect(await count(s, name, true)).toBe(5);
      });
    });

    describe('concurrency', () => {
      it('200 increments from 20 workers over two instances end exactly at 200, cached and uncached', async () => {
        const a = service();
        const b = service();
        const name = unique('conc');
        let writing = true;
        const seen: number[] = [];
        const reader = async (s: ShardedCounterService, evict: boolean) => {
          while (writing) {
            if (evict) await scope.env.cache.delete(totalKey(name));
            const c = await s.getCounter(name);
            if (c !== undefined) seen.push(c.count);
            // An embedded cache answers in microtasks: yield so the writers get to run.
            await nextTurn();
          }
        };
        const readers = [reader(a, false), reader(b, false), reader(a, true)];
        await Promise.all(
          Array.from({ length: 20 }, async (_, w) => {
            for (let i = 0; i < 10; i++) await (w % 2 === 0 ? a : b).increment(name);
          }),
        ).finally(() => {
          writing = false;
        });
        await Promise.all(readers);
        expect(seen.length).toBeGreaterThan(0);
        expect(seen.every((c) => c >= 0 && c <= 200)).toBe(true);
        for (const s of [a, b]) {
          expect(await count(s, name)).toBe(200);
          expect(await count(s, name, true)).toBe(200);
        }
        expect((await shardRows(name)).reduce((sum, r) => sum + r.count, 0)).toBe(200);
      });

      it('mixed concurrent increments and decrements never go negative and end exact', async () => {
        const a = service();
        const b = service();
        const name = unique('mixed');
        await a.createCounter(name, { numShards: 4 });
        for (let i = 0; i < 5; i++) await a.increment(name, 4);
        let expected = 20;
        let writing = true;
        const seen: number[] = [];
        const reader = async () => {
          while (writing) {
            const c = await b.getCounter(name);
            if (c !== undefined) seen.push(c.count);
            await nextTurn();
          }
        };
        const readers = [reader(), reader()];
        await Promise.all(
          Array.from({ length: 20 }, async (_, w) => {
            const s = w % 2 === 0 ? a : b;
            for (let i = 0; i < 6; i++) {
              const amount = 1 + ((w + i) % 4);
              const kind = (w + i) % 3;
              if (kind === 0) {
                // Read the result first: `expected += await ...` would read `expected` before
                // the await and lose the other workers' updates.
                const op = await s.increment(name, amount);
                expected += op.appliedAmount;
              } else if (kind === 1) {
                const op = await s.decrement(name, amount);
                expected -= op.appliedAmount;
              } else {
                try {
                  const op = await s.decrement(name, amount, { mode: 'exact' });
                  expect(op.appliedAmount).toBe(amount);
                  expected -= amount;
                } catch (error) {
                  expect(error).toBeInstanceOf(InsufficientCountError);
                }
              }
            }
          }),
        ).finally(() => {
          writing = false;
        });
        await Promise.all(readers);
        expect(seen.every((c) => c >= 0)).toBe(true);
        expect(expected).toBeGreaterThanOrEqual(0);
        expect(await count(a, name, true)).toBe(expected);
        expect(await count(a, name)).toBe(expected);
        expect(await count(b, name)).toBe(expected);
        const rows = await shardRows(name);
        expect(rows.every((r) => r.count >= 0)).toBe(true);
        expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(expected);
      });

      it('a shard reduction under concurrent increments keeps every increment', async () => {
        const a = service({ maxWritesPerTransaction: 4 });
        const b = service();
        const name = unique('shrink-live');
        await a.createCounter(name, { numShards: 8 });
        for (let i = 0; i < 8; i++) await a.increment(name, 10);
        const writers = Promise.all(
          Array.from({ length: 5 }, async () => {
            for (let i = 0; i < 8; i++) await b.increment(name);
          }),
        );
        await a.updateCounter(name, { numShards: 2 });
        await writers;
        expect(await count(a, name, true)).toBe(120);
        expect(await count(b, name)).toBe(120);
        expect(await b.getCounter(name)).toMatchObject({ numShards: 2, status: 'AVAILABLE' });
        expect((await shardRows(name)).every((r) => r.index < 2)).toBe(true);
      });

      it('a counter read in several lookups is never torn by a shrink or a reset between them', async () => {
        // Three shards and the counter per lookup, so 12 shards take 4 lookups, as 1000 shards
        // take 2 on Datastore.
        const store = new FaultInjectingEntityStore(scope.env.store, {
          limits: { maxLookupKeys: 4 },
        });
        const s = service({ store });
        const other = service();
        const name = unique('split');
        await s.createCounter(name, { numShards: 12 });
        for (let i = 1; i <= 24; i++) await s.increment(name, i);
        store.resetCalls();
        expect(await count(s, name, true)).toBe(300);
        expect(store.calls.lookup).toBe(4);
        // A layout change commits after the first lookup of a read has been sent and before
        // the others: summed as read, those lookups would give a total that never existed.
        const between = async (change: () => Promise<unknown>): Promise<number | undefined> => {
          const original = store.loadMany.bind(store);
          let calls = 0;
          store.loadMany = (async (keys: Parameters<typeof original>[0]) => {
            if (!store.inTransaction && ++calls === 2) await change();
            return original(keys);
          }) as typeof store.loadMany;
          try {
            return await count(s, name, true);
          } finally {
            store.loadMany = original as typeof store.loadMany;
          }
        };
        expect(await between(() => other.updateCounter(name, { numShards: 2 }))).toBe(300);
        expect(await s.getCounter(name, { skipCache: true })).toMatchObject({
          numShards: 2,
          count: 300,
        });
        await other.updateCounter(name, { numShards: 12 });
        for (let i = 0; i < 12; i++) await other.increment(name);
        expect(await count(s, name, true)).toBe(312);
        expect(await between(() => other.reset(name))).toBe(0);
        expect(await count(s, name)).toBe(0);
      });

      it('autoShard doubles a contended counter up to maxShards without losing counts', async () => {
        const { store } = faulty();
        const s = service({ store, autoShard: { maxShards: 4, cooldownMs: 0 } });
        const grown: Array<[number, number]> = [];
        let grew = (): void => undefined;
        const nextGrowth = () => new Promise<void>((resolve) => (grew = resolve));
        let growth = nextGrowth();
        s.on('shardsGrown', (e) => {
          grown.push([e.fromShards, e.toShards]);
          grew();
        });
        const name = unique('auto');
        await s.createCounter(name, { numShards: 1 });
        for (const expectShards of [2, 4]) {
          store.faults.contendNext(1);
          await s.increment(name);
          // Growth runs off the caller's path: the increment returned without waiting for it.
          await growth;
          growth = nextGrowth();
          expect((await s.getCounter(name, { skipCache: true }))?.numShards).toBe(expectShards);
        }
        store.faults.contendNext(1);
        await s.increment(name); // at maxShards: no growth
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(grown).toEqual([
          [1, 2],
          [2, 4],
        ]);
        expect(await count(s, name)).toBe(3);
        // Real contention from parallel workers: the total stays exact while it grows.
        const live = service({ autoShard: { maxShards: 8, cooldownMs: 0 } });
        const hot = unique('auto-live');
        await live.createCounter(hot, { numShards: 1 });
        await Promise.all(
          Array.from({ length: 20 }, async () => {
            for (let i = 0; i < 5; i++) await live.increment(hot);
          }),
        );
        expect(await count(live, hot, true)).toBe(100);
        expect(await count(live, hot)).toBe(100);
      });

      it('autoShard grows a counter at most once per cooldown per instance', async () => {
        const { store } = faulty();
        const s = service({ store, autoShard: { maxShards: 64, cooldownMs: 60_000 } });
        const grown: number[] = [];
        s.on('shardsGrown', (e) => grown.push(e.toShards));
        const name = unique('auto-cooldown');
        await s.createCounter(name, { numShards: 1 });
        const until = async (done: () => boolean) => {
          for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
        };
        for (let i = 0; i < 3; i++) {
          store.faults.contendNext(1);
          await s.increment(name);
          await until(() => grown.length > 0);
          await new Promise((resolve) => setTimeout(resolve, 100)); // room for a second growth
        }
        expect(grown).toEqual([2]);
        expect((await s.getCounter(name, { skipCache: true }))?.numShards).toBe(2);
        // Another instance has its own cooldown.
        const other = service({ store, autoShard: { maxShards: 64, cooldownMs: 60_000 } });
        const otherGrown: number[] = [];
        other.on('shardsGrown', (e) => otherGrown.push(e.toShards));
        store.faults.contendNext(1);
        await other.increment(name);
        await until(() => otherGrown.length > 0);
        expect(otherGrown).toEqual([4]);
      });
    });

    describe('transactions joined with isolated: false', () => {
      it('store.transact commits counter changes with other writes, then adjusts the cached total', async () => {
        const { store, cache } = faulty();
        const s = service({ store, cache });
        const name = unique('joined');
        await s.increment(name, 10);
        expect(await count(s, name)).toBe(10); // fills the cache
        const orderKey = Orders.key(uuidv4());
        await store.transact(async () => {
          await s.decrement(name, 3, { isolated: false, mode: 'exact' });
          await s.increment(name, 1, { isolated: false });
          await store.save(orderKey, { item: name, quantity: 3 });
          // Nothing is settled before the commit: the cache still holds the filled total.
          expect(await store.transactionless(() => count(s, name))).toBe(10);
        });
        expect(await scope.env.store.load(orderKey)).toEqual({ item: name, quantity: 3 });
        // Adjusted by incr/decr after the commit, not deleted: the next read is a hit.
        store.resetCalls();
        cache.resetCalls();
        expect(await count(s, name)).toBe(8);
        expect(store.calls.lookup).toBe(0);
        expect(cache.calls.getMany).toBe(1);
        expect(await count(s, name, true)).toBe(8);
      });

      it('a read that fills the cache between the joined change and the commit leaves no stale total', async () => {
        const s = service();
        const name = unique('joined-race');
        await s.increment(name, 10);
        expect(await count(s, name)).toBe(10);
        await scope.env.store.transact(async () => {
          await s.increment(name, 5, { isolated: false });
          // Another request (outside this transaction) misses and fills the pre-commit total.
          await scope.env.cache.delete(totalKey(name));
          expect(await scope.env.store.transactionless(() => count(s, name))).toBe(10);
        });
        expect(await count(s, name)).toBe(15);
        expect(await count(s, name, true)).toBe(15);
      });

      it('a retried outer transaction settles only the attempt that committed', async () => {
        const { store } = faulty();
        const s = service({ store });
        const name = unique('joined-retry');
        await s.increment(name, 10);
        expect(await count(s, name)).toBe(10);
        store.faults.contendNext(2);
        let attempts = 0;
        await store.transact(async () => {
          attempts += 1;
          await s.increment(name, 4, { isolated: false });
        });
        expect(attempts).toBe(3);
        expect(await count(s, name)).toBe(14);
        expect(await count(s, name, true)).toBe(14);
      });

      it('a rolled-back joined transaction changes neither the count nor the cached total', async () => {
        const s = service();
        const name = unique('rollback');
        await s.increment(name, 5);
        expect(await count(s, name)).toBe(5);
        const orderKey = Orders.key(uuidv4());
        await expect(
          scope.env.store.transact(async () => {
            await s.increment(name, 100, { isolated: false });
            await scope.env.store.save(orderKey, { item: name, quantity: 1 });
            await s.decrement(name, 500, { isolated: false, mode: 'exact' });
          }),
        ).rejects.toThrow(InsufficientCountError);
        expect(await scope.env.store.load(orderKey)).toBeUndefined();
        expect(await count(s, name)).toBe(5);
        expect(await count(s, name, true)).toBe(5);
      });

      for (const applied of [true, false]) {
        it(`an ambiguous outer commit (${applied ? 'applied' : 'not applied'}) is settled by retrying with the same idempotency key`, async () => {
          const { store } = faulty();
          const s = service({ store });
          const name = unique('joined-ambiguous');
          await s.increment(name, 10);
          expect(await count(s, name)).toBe(10);
          const work = async () => {
            await s.increment(name, 5, { isolated: false, idempotencyKey: 'order-7' });
          };
          store.faults.ambiguousNextCommit(1, { applied });
          await expect(store.transact(work)).rejects.toThrow(AmbiguousCommitError);
          expect(await count(s, name, true)).toBe(applied ? 15 : 10);
          // Documented: the service never sees the caller's commit fail, so the cached total
          // still misses an applied change (until it expires, cacheTtlSeconds after its fill).
          expect(await count(s, name)).toBe(10);
          await store.transact(work); // the retry: a replay if the first commit landed
          expect(await count(s, name)).toBe(15);
          expect(await count(s, name, true)).toBe(15);
        });
      }
    });

    describe('legacy Datastore: at most 25 entity groups per transaction (simulated)', () => {
      it('reset, shrink and wide exact decrements of 30 shards fail whole; the counter stays usable', async () => {
        const s = service({ store: new EntityGroupLimitedStore(scope.env.store) });
        const name = unique('legacy');
        await s.createCounter(name, { numShards: 30 });
        const total = await seedShards(name, 30);
        await expect(s.reset(name)).rejects.toThrow(LimitExceededError);
        await expect(s.updateCounter(name, { numShards: 5 })).rejects.toThrow(LimitExceededError);
        // 460 needs the 28 largest shards, plus the counter: 29 groups.
        await expect(s.decrement(name, 460, { mode: 'exact' })).rejects.toThrow(LimitExceededError);
        // Nothing was written, and no transitional status was left behind.
        expect(await s.getCounter(name, { skipCache: true })).toMatchObject({
          status: 'AVAILABLE',
          numShards: 30,
          count: total,
        });
        await s.increment(name, 5, { idempotencyKey: 'legacy-1' });
        expect((await s.decrement(name, 3)).appliedAmount).toBe(3);
        expect((await s.decrement(name, 50, { mode: 'exact' })).appliedAmount).toBe(50);
        expect(await count(s, name)).toBe(total + 5 - 3 - 50);
        expect(await count(s, name, true)).toBe(total + 5 - 3 - 50);
      });

      it('23 shards fit: reset, shrink, and an exact decrement over every shard with a key', async () => {
        const s = service({ store: new EntityGroupLimitedStore(scope.env.store) });
        const name = unique('legacy-23');
        await s.createCounter(name, { numShards: 23 });
        const total = await seedShards(name, 23);
        const op = await s.decrement(name, total, { mode: 'exact', idempotencyKey: 'all' });
        expect(op.appliedAmount).toBe(total);
        expect(await count(s, name)).toBe(0);
        await seedShards(name, 23);
        expect(await s.updateCounter(name, { numShards: 5 })).toMatchObject({
          numShards: 5,
          count: total,
        });
        await s.updateCounter(name, { numShards: 23 });
        await s.reset(name);
        expect(await count(s, name, true)).toBe(0);
      });

      it('with maxWritesPerTransaction: 25, reset and shrink work at any shard count', async () => {
        const s = service({
          store: new EntityGroupLimitedStore(scope.env.store),
          maxWritesPerTransaction: 25,
        });
        const name = unique('legacy-batched');
        await s.createCounter(name, { numShards: 60 });
        const total = await seedShards(name, 60);
        expect(await s.updateCounter(name, { numShards: 4 })).toMatchObject({
          numShards: 4,
          count: total,
          status: 'AVAILABLE',
        });
        expect(await count(s, name)).toBe(total);
        await s.updateCounter(name, { numShards: 60 });
        await seedShards(name, 60);
        await s.reset(name);
        expect(await s.getCounter(name)).toMatchObject({ count: 0, status: 'AVAILABLE' });
        expect((await shardRows(name)).every((r) => r.count === 0)).toBe(true);
      });
    });

    describe('faults', () => {
      it('a dead cache never fails writes or makes reads wrong; the cache is used again once back', async () => {
        const { store, cache } = faulty();
        const s = service({ store, cache, cacheTimeoutMs: 200 });
        const errors: string[] = [];
        const hits: string[] = [];
        s.on('cacheError', (e) => errors.push(e.call));
        s.on('cacheHit', (e) => hits.push(e.counterName));
        const name = unique('outage');
        await s.increment(name, 2);
        expect(await count(s, name)).toBe(2);
        cache.faults.failAlways();
        for (let i = 3; i <= 6; i++) {
          await s.increment(name);
          expect(await count(s, name)).toBe(i);
        }
        expect((await s.decrement(name, 2)).appliedAmount).toBe(2);
        expect(await count(s, name)).toBe(4);
        expect(errors.length).toBeGreaterThan(0);
        const hitsDuringOutage = hits.length;
        cache.faults.heal();
        // The entry filled before the outage was invalidated or missed nothing: reads are exact.
        await scope.env.cache.delete(totalKey(name)); // a restarted memcached is empty
        expect(await count(s, name)).toBe(4);
        cache.resetCalls();
        store.resetCalls();
        expect(await count(s, name)).toBe(4);
        expect(hits.length).toBeGreaterThan(hitsDuringOutage);
        expect(cache.calls.getMany).toBe(1);
        expect(store.calls.lookup).toBe(0);
      });

      it('a slow cache costs a write at most its timeout', async () => {
        const { cache } = faulty();
        const s = service({ cache, cacheTimeoutMs: 100 });
        const errors: string[] = [];
        s.on('cacheError', (e) => errors.push(e.call));
        const name = unique('slow');
        await s.increment(name);
        await s.getCounter(name); // a lineage: the writer's step is get + incr
        cache.faults.delay(5_000);
        for (let i = 0; i < 2; i++) {
          const started = performance.now();
          await s.increment(name);
          // One cache call runs into its 100 ms deadline; the 5 s answer is never waited for.
          expect(performance.now() - started).toBeLessThan(2_000);
        }
        expect(errors).toEqual(['get', 'get']);
        cache.faults.heal();
        expect(await count(s, name, true)).toBe(3);
      });

      it('injected contention is retried; with retries exhausted nothing is applied', async () => {
        const { store } = faulty();
        const s = service({ store });
        const contention: number[] = [];
        const retries: string[] = [];
        const misses: string[] = [];
        s.on('contention', (e) => contention.push(e.attempt));
        s.on('retry', (e) => retries.push(`${e.operation}/${e.step}/${e.attempt}`));
        s.on('cacheMiss', (e) => misses.push(e.reason));
        const name = unique('contend');
        await s.increment(name);
        expect(await count(s, name)).toBe(1);
        expect(misses).toEqual(['missing']);
        store.faults.contendNext(3);
        await s.increment(name);
        expect(contention).toEqual([1, 2, 3]);
        expect(retries).toEqual([
          'increment/transaction/1',
          'increment/transaction/2',
          'increment/transaction/3',
        ]);
        await s.increment(name, 1, { idempotencyKey: 'c1' });
        store.faults.contendNext(2);
        const replay = await s.increment(name, 1, { idempotencyKey: 'c1' });
        expect(replay.replayed).toBe(true);
        expect(await count(s, name)).toBe(3);
        const strict = service({ store, retry: { retries: 1, minTimeoutMs: 1 } });
        store.faults.contendNext(5);
        await expect(strict.increment(name)).rejects.toThrow(ContentionError);
        store.faults.heal();
        expect(await count(s, name)).toBe(3);
        expect(await count(s, name, true)).toBe(3);
      });

      for (const applied of [true, false]) {
        it(`an ambiguous commit (${applied ? 'applied' : 'not applied'}) without a key surfaces and leaves no stale total`, async () => {
          const { store } = faulty();
          const s = service({ store });
          const name = unique('ambiguous');
          await s.increment(name, 10);
          expect(await count(s, name)).toBe(10);
          store.faults.ambiguousNextCommit(1, { applied });
          await expect(s.increment(name)).rejects.toThrow(AmbiguousCommitError);
          const truth = applied ? 11 : 10;
          expect(await count(s, name, true)).toBe(truth);
          expect(await count(s, name)).toBe(truth);
          store.faults.ambiguousNextCommit(1, { applied });
          await expect(s.decrement(name, 4, { mode: 'exact' })).rejects.toThrow(
            AmbiguousCommitError,
          );
          const after = applied ? truth - 4 : truth;
          expect(await count(s, name, true)).toBe(after);
          expect(await count(s, name)).toBe(after);
        });

        it(`an ambiguous commit (${applied ? 'applied' : 'not applied'}) retried with its idempotency key applies exactly once`, async () => {
          const { store } = faulty();
          const s = service({ store });
          const name = unique('ambiguous-idem');
          await s.increment(name, 10);
          expect(await count(s, name)).toBe(10);
          store.faults.ambiguousNextCommit(1, { applied });
          await expect(s.increment(name, 5, { idempotencyKey: 'pay-1' })).rejects.toThrow(
            AmbiguousCommitError,
          );
          const retried = await s.increment(name, 5, { idempotencyKey: 'pay-1' });
          expect(retried.replayed).toBe(applied);
          const again = await s.increment(name, 5, { idempotencyKey: 'pay-1' });
          expect(again).toMatchObject({ replayed: true, id: retried.id });
          expect(await count(s, name, true)).toBe(15);
          expect(await count(s, name)).toBe(15);
        });
      }

      it('a crash in the middle of delete is finished by resumeDeletions; meanwhile the count reads 0', async () => {
        const healthy = service();
        const name = unique('crash-delete');
        await healthy.createCounter(name, { numShards: 4 });
        for (let i = 0; i < 8; i++) await healthy.increment(name, 1, { idempotencyKey: `i${i}` });
        expect(await count(healthy, name)).toBe(8);
        const crashing = new CrashingEntityStore(scope.env.store, 1); // DELETING commits, shard delete crashes
        await expect(service({ store: crashing }).delete(name)).rejects.toThrow(
          StoreUnavailableError,
        );
        expect(crashing.crashed).toBe(true);
        expect(await healthy.getCounter(name)).toMatchObject({ status: 'DELETING', count: 0 });
        expect(await healthy.getCounter(name, { skipCache: true })).toMatchObject({
          status: 'DELETING',
          count: 0,
        });
        expect(await shardRows(name)).not.toHaveLength(0);
        await expect(healthy.increment(name)).rejects.toThrow(CounterNotMutableError);
        await expect(healthy.increment(name)).rejects.toThrow(/being deleted/);
        await expect(healthy.decrement(name)).rejects.toThrow(CounterNotMutableError);
        await expect(healthy.reset(name)).rejects.toThrow(CounterNotMutableError);
        await expect(healthy.updateCounter(name, { description: 'x' })).rejects.toThrow(
          CounterNotMutableError,
        );
        await expect(healthy.createCounter(name)).rejects.toThrow(CounterExistsError);
        expect(await service().resumeDeletions()).toContain(name);
        expect(await healthy.getCounter(name)).toBeUndefined();
        expect(await shardRows(name)).toHaveLength(0);
        expect(await recordRows(name)).toBe(0);
        expect((await healthy.increment(name)).counterCreated).toBe(true);
        expect(await count(healthy, name)).toBe(1);
      });

      it('a crash after the shards are gone is finished by calling delete again', async () => {
        const healthy = service();
        const name = unique('crash-delete-late');
        for (let i = 0; i < 5; i++) await healthy.increment(name, 1, { idempotencyKey: `i${i}` });
        // Commits: DELETING, shard deletion, record deletion; the counter's own delete crashes.
        const crashing = new CrashingEntityStore(scope.env.store, 3);
        await expect(service({ store: crashing }).delete(name)).rejects.toThrow(
          StoreUnavailableError,
        );
        expect(await shardRows(name)).toHaveLength(0);
        expect(await healthy.getCounter(name, { skipCache: true })).toMatchObject({
          status: 'DELETING',
          count: 0,
        });
        expect(await healthy.delete(name)).toBe(true);
        expect(await healthy.getCounter(name)).toBeUndefined();
      });

      it('a crash in the middle of a shard reduction keeps counts exact and is finished later', async () => {
        const small = { maxWritesPerTransaction: 4 }; // one removed shard per step
        const healthy = service(small);
        const name = unique('crash-shrink');
        await healthy.createCounter(name, { numShards: 10 });
        let total = 0;
        for (let i = 1; i <= 25; i++) {
          await healthy.increment(name, i);
          total += i;
        }
        expect(await count(healthy, name)).toBe(total);
        // Commits: the update with the first step, then two more steps; the fourth step crashes.
        const crashing = new CrashingEntityStore(scope.env.store, 3);
        await expect(
          service({ ...small, store: crashing }).updateCounter(name, { numShards: 2 }),
        ).rejects.toThrow(StoreUnavailableError);
        expect(await healthy.getCounter(name, { skipCache: true })).toMatchObject({
          status: 'CHANGING_SHARDS',
          numShards: 7,
          count: total,
        });
        expect(await count(healthy, name)).toBe(total);
        for (let i = 0; i < 5; i++) {
          expect((await healthy.increment(name)).shardIndex).toBeLessThan(2);
        }
        total += 5;
        const removed = await healthy.decrement(name, 3);
        total -= removed.appliedAmount;
        expect(await count(healthy, name)).toBe(total);
        const report = await service(small).resumeInterrupted();
        expect(report.shardChanges).toContain(name);
        expect(await healthy.getCounter(name, { skipCache: true })).toMatchObject({
          status: 'AVAILABLE',
          numShards: 2,
          count: total,
        });
        expect(await count(healthy, name)).toBe(total);
        const rows = await shardRows(name);
        expect(rows.every((r) => r.index < 2)).toBe(true);
        expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(total);
      });

      it('a crash in the middle of a batched reset reads 0, refuses changes, and is finished later', async () => {
        const small = { maxWritesPerTransaction: 4 };
        const healthy = service(small);
        const name = unique('crash-reset');
        await healthy.createCounter(name, { numShards: 10 });
        for (let i = 0; i < 40; i++) await healthy.increment(name);
        expect((await shardRows(name)).filter((r) => r.count > 0).length).toBeGreaterThan(3);
        // Commits: RESETTING with the first batch, the second batch; the third batch crashes.
        const crashing = new CrashingEntityStore(scope.env.store, 2);
        await expect(service({ ...small, store: crashing }).reset(name)).rejects.toThrow(
          StoreUnavailableError,
        );
        expect(await healthy.getCounter(name, { skipCache: true })).toMatchObject({
          status: 'RESETTING',
          count: 0,
        });
        // A process that reads the counter refuses. (One still holding a view from before the
        // reset may land an increment on a shard not yet zeroed; the resumed reset zeroes it.)
        await expect(service(small).increment(name)).rejects.toThrow(/being reset/);
        await healthy.increment(name).catch(() => undefined);
        const report = await service(small).resumeInterrupted();
        expect(report.resets).toContain(name);
        expect(await healthy.getCounter(name)).toMatchObject({ status: 'AVAILABLE', count: 0 });
        expect((await shardRows(name)).every((r) => r.count === 0)).toBe(true);
        await healthy.increment(name);
        expect(await count(healthy, name)).toBe(1);
      });
    });

    describe('shard-only increments: fences under interleavings', () => {
      /** A service over a gated view of the shared store, with its view of `name` warm. */
      const gated = async (name: string, numShards: number) => {
        const store = new GatedEntityStore(scope.env.store);
        const s = service({ store });
        await s.createCounter(name, { numShards });
        for (let i = 0; i < numShards * 3; i++) await s.increment(name);
        return { store, s, before: numShards * 3 };
      };
      const shardKind = 'ShardcountShard';

      it('an increment held between its read and commit loses to READ_ONLY_COUNT and is refused', async () => {
        const name = unique('fence-readonly');
        const { store, s, before } = await gated(name, 4);
        const gate = store.holdNextCommit(shardKind);
        const held = s.increment(name);
        await gate.reached; // it has read its shard (the old fence) and is about to commit
        await service().updateCounter(name, { status: 'READ_ONLY_COUNT' });
        gate.release();
        await expect(held).rejects.toThrow(CounterNotMutableError);
        expect(await count(s, name, true)).toBe(before);
        // After the status change returned, every view is refused, however old.
        for (let i = 0; i < 8; i++) {
          await expect(s.increment(name)).rejects.toThrow(CounterNotMutableError);
        }
        expect(await count(s, name, true)).toBe(before);
        await service().updateCounter(name, { status: 'AVAILABLE' });
        await s.increment(name); // the old view was refreshed on the way
        expect(await count(s, name, true)).toBe(before + 1);
        expect(await count(s, name)).toBe(before + 1);
      });

      it('a status change held before its commit loses to an increment, retries, then fences it', async () => {
        const name = unique('fence-readonly-held');
        const { s, before } = await gated(name, 4);
        const statusStore = new GatedEntityStore(scope.env.store);
        const gate = statusStore.holdNextCommit(); // the status change has read every shard
        const change = service({ store: statusStore }).updateCounter(name, {
          status: 'READ_ONLY_COUNT',
        });
        await gate.reached;
        await s.increment(name); // commits first: the change must retry, not stamp over it
        gate.release();
        await change;
        await expect(s.increment(name)).rejects.toThrow(CounterNotMutableError);
        expect(await count(s, name, true)).toBe(before + 1);
        expect(await count(s, name)).toBe(before + 1);
      });

      it('an increment held across a whole delete never lands in the deleted counter', async () => {
        const name = unique('fence-delete');
        const { store, s } = await gated(name, 3);
        const gate = store.holdNextCommit(shardKind);
        const held = s.increment(name, 7);
        await gate.reached;
        expect(await service().delete(name)).toBe(true);
        expect(await shardRows(name)).toHaveLength(0);
        gate.release();
        // Its commit conflicts with the delete; the retry finds no counter and creates a new one.
        const op = await held;
        expect(op.counterCreated).toBe(true);
        expect(await count(s, name, true)).toBe(7);
        expect((await shardRows(name)).reduce((sum, r) => sum + r.count, 0)).toBe(7);
      });

      it('a view older than a delete is refused while the counter is DELETING', async () => {
        const name = unique('fence-deleting');
        const { s, before } = await gated(name, 4);
        // Shards stay (the deletion "crashes" after marking), so only the fence can refuse.
        const crashing = new CrashingEntityStore(scope.env.store, 1);
        await expect(service({ store: crashing }).delete(name)).rejects.toThrow(
          StoreUnavailableError,
        );
        for (let i = 0; i < 8; i++) {
          await expect(s.increment(name)).rejects.toThrow(/being deleted/);
        }
        expect((await shardRows(name)).reduce((sum, r) => sum + r.count, 0)).toBe(before);
        await service().resumeDeletions();
      });

      it('an increment held across a shrink never lands in a removed shard; the total stays exact', async () => {
        const name = unique('fence-shrink');
        const { store, s, before } = await gated(name, 4);
        const gate = store.holdNextCommit(shardKind);
        const held = s.increment(name, 5);
        await gate.reached;
        await service().updateCounter(name, { numShards: 1 });
        gate.release();
        await held;
        const rows = await shardRows(name);
        expect(rows.map((r) => r.index)).toEqual([0]);
        expect(rows[0]?.count).toBe(before + 5);
        expect(await count(s, name, true)).toBe(before + 5);
        expect(await count(s, name)).toBe(before + 5);
        await s.increment(name); // the stale 4-shard view finds its shards gone and refreshes
        expect((await shardRows(name)).map((r) => r.index)).toEqual([0]);
        expect(await count(s, name)).toBe(before + 6);
      });

      it('an increment held across a reset is zeroed with its shard or counted after it, never lost twice', async () => {
        const name = unique('fence-reset');
        const { store, s } = await gated(name, 4);
        const gate = store.holdNextCommit(shardKind);
        const held = s.increment(name, 5);
        await gate.reached;
        await service().reset(name);
        gate.release();
        await held;
        // The reset read the held increment's shard, so the increment retried after it.
        expect(await count(s, name, true)).toBe(5);
        expect(await count(s, name)).toBe(5);
      });

      it('a status change interrupted between its stamping transactions is finished by resumeInterrupted', async () => {
        const small = { maxWritesPerTransaction: 4 }; // 3 shards stamped per transaction
        const name = unique('fence-resume');
        const stale = service(small);
        await stale.createCounter(name, { numShards: 10 });
        for (let i = 0; i < 20; i++) await stale.increment(name);
        // Commits: the status change with shards 0-2; the next stamping transaction crashes.
        const crashing = new CrashingEntityStore(scope.env.store, 1);
        await expect(
          service({ ...small, store: crashing }).updateCounter(name, { status: 'READ_ONLY_COUNT' }),
        ).rejects.toThrow(StoreUnavailableError);
        // A process reading the counter refuses at once.
        await expect(service(small).increment(name)).rejects.toThrow(CounterNotMutableError);
        const report = await service(small).resumeInterrupted();
        expect(report.fences).toEqual([name]);
        expect((await service(small).resumeInterrupted()).fences).toEqual([]);
        // Every shard is stamped now: even the oldest view is refused.
        const before = await count(stale, name, true);
        for (let i = 0; i < 10; i++) {
          await expect(stale.increment(name)).rejects.toThrow(CounterNotMutableError);
        }
        expect(await count(stale, name, true)).toBe(before);
      });

      it('one process never contends with itself: concurrent increments take distinct shards', async () => {
        const { store } = faulty();
        const s = service({ store });
        const name = unique('no-self-contention');
        await s.createCounter(name, { numShards: 16 });
        await s.increment(name); // a warm view
        const contention: number[] = [];
        s.on('contention', (e) => contention.push(e.attempt));
        for (let round = 0; round < 3; round++) {
          const ops = await Promise.all(Array.from({ length: 16 }, () => s.increment(name)));
          expect(new Set(ops.map((op) => op.shardIndex)).size).toBe(16);
        }
        expect(contention).toEqual([]);
        expect(await count(s, name, true)).toBe(49);
      });
    });

    describe('cost of each operation (backend calls)', () => {
      const total = (calls: Readonly<Record<string, number>>): number =>
        Object.values(calls).reduce((sum, n) => sum + n, 0);

      it('a steady-state increment is one transaction with one lookup, plus at most two cache calls', async () => {
        const { store, cache } = faulty();
        const s = service({ store, cache });
        const name = unique('cost');
        await s.increment(name);
        await s.getCounter(name); // fills the cache
        for (let i = 0; i < 5; i++) {
          store.resetCalls();
          cache.resetCalls();
          await s.increment(name);
          expect(store.calls).toEqual({
            beginTransaction: 1,
            lookup: 1,
            commit: 1,
            rollback: 0,
            query: 0,
          });
          // After the commit: read the lineage, incr its count. Nothing before the commit.
          expect(total(cache.calls)).toBe(2);
          expect(cache.calls).toMatchObject({ get: 1, incr: 1 });
        }
        store.resetCalls();
        cache.resetCalls();
        await s.increment(name, 1, { idempotencyKey: 'cost-1' });
        expect(store.calls).toMatchObject({ beginTransaction: 1, lookup: 1, commit: 1 });
        expect(total(cache.calls)).toBeLessThanOrEqual(2);
        expect(await count(s, name)).toBe(7);
      });

      it('an increment joined to a store.transact costs that transaction one lookup and two cache calls', async () => {
        const { store, cache } = faulty();
        const s = service({ store, cache });
        const name = unique('cost-joined');
        await s.increment(name);
        await s.getCounter(name);
        store.resetCalls();
        cache.resetCalls();
        await store.transact(() => s.increment(name, 2, { isolated: false }));
        expect(store.calls).toEqual({
          beginTransaction: 1,
          lookup: 1,
          commit: 1,
          rollback: 0,
          query: 0,
        });
        expect(cache.calls).toMatchObject({ get: 1, incr: 1 });
        expect(total(cache.calls)).toBe(2);
        expect(await count(s, name)).toBe(3);
      });

      it('getCounter: a hit is one cache call; a miss is one batched lookup and a leased fill', async () => {
        const { store, cache } = faulty();
        const s = service({ store, cache, numInitialShards: 10 });
        const name = unique('cost-read');
        for (let i = 0; i < 10; i++) await s.increment(name);
        await scope.env.cache.delete(totalKey(name));
        store.resetCalls();
        cache.resetCalls();
        expect(await count(s, name)).toBe(10);
        expect(store.calls).toEqual({
          beginTransaction: 0,
          lookup: 1,
          commit: 0,
          rollback: 0,
          query: 0,
        });
        // getMany (M), gets + add (lease), gets (its token), set (the count key), cas (publish).
        expect(cache.calls).toMatchObject({ getMany: 1, gets: 2, add: 1, set: 1, cas: 1 });
        store.resetCalls();
        cache.resetCalls();
        expect(await count(s, name)).toBe(10);
        expect(total(store.calls)).toBe(0);
        expect(total(cache.calls)).toBe(1);
      });

      it('decrements: one shard transaction when the random shard suffices; exact is one transaction', async () => {
        const { store, cache } = faulty();
        const s = service({ store, cache, numInitialShards: 1 });
        const name = unique('cost-dec');
        await s.increment(name, 50);
        await s.getCounter(name);
        store.resetCalls();
        cache.resetCalls();
        await s.decrement(name, 2);
        expect(store.calls).toMatchObject({ beginTransaction: 1, lookup: 1, commit: 1 });
        expect(total(cache.calls)).toBeLessThanOrEqual(2);
        store.resetCalls();
        cache.resetCalls();
        await s.decrement(name, 2, { mode: 'exact' });
        // A read outside the transaction picks the shards, then one transaction.
        expect(store.calls).toMatchObject({ beginTransaction: 1, lookup: 2, commit: 1 });
        expect(total(cache.calls)).toBeLessThanOrEqual(2);
        expect(await count(s, name)).toBe(46);
      });

      it('bad input is rejected with a typed error before any I/O', async () => {
        const { store, cache } = faulty();
        const s = service({ store, cache });
        const bad: Array<
          [string, () => Promise<unknown>, new (...args: never[]) => Error, RegExp]
        > = [
          ['blank name', () => s.increment('   '), InvalidArgumentError, /non-blank string/],
          ['empty name', () => s.increment(''), InvalidArgumentError, /non-blank string/],
          [
            'non-string name',
            () => s.increment(42 as unknown as string),
            InvalidArgumentError,
            /number 42/,
          ],
          [
            'undefined name',
            () => s.getCounter(undefined as unknown as string),
            InvalidArgumentError,
            /undefined/,
          ],
          [
            '1501-byte name',
            () => s.increment('x'.repeat(1501)),
            InvalidArgumentError,
            /1501 UTF-8 bytes/,
          ],
          [
            'multi-byte name over 1500',
            () => s.getCounter('é'.repeat(751)),
            InvalidArgumentError,
            /1502/,
          ],
          ['lone surrogate', () => s.increment('a\uD800b'), InvalidArgumentError, /surrogate/],
          ['amount 0', () => s.increment('c', 0), InvalidArgumentError, /positive whole number/],
          ['amount -1', () => s.increment('c', -1), InvalidArgumentError, /number -1/],
          ['amount 1.5', () => s.decrement('c', 1.5), InvalidArgumentError, /number 1.5/],
          ['amount NaN', () => s.increment('c', Number.NaN), InvalidArgumentError, /NaN/],
          [
            'amount Infinity',
            () => s.increment('c', Number.POSITIVE_INFINITY),
            InvalidArgumentError,
            /Infinity/,
          ],
          ['amount 2**60', () => s.increment('c', 2 ** 60), OutOfRangeError, /MAX_SAFE_INTEGER/],
          [
            'amount as string',
            () => s.increment('c', '1' as unknown as number),
            InvalidArgumentError,
            /string/,
          ],
          ['decrement 2**60', () => s.decrement('c', 2 ** 60), OutOfRangeError, /MAX_SAFE_INTEGER/],
          [
            'empty idempotencyKey',
            () => s.increment('c', 1, { idempotencyKey: '' }),
            InvalidArgumentError,
            /idempotencyKey/,
          ],
          [
            'idempotencyKey on an upTo cascade',
            () => s.decrement('c', 1, { idempotencyKey: 'k' }),
            InvalidArgumentError,
            /one transaction/,
          ],
          [
            'unknown mode',
            () => s.decrement('c', 1, { mode: 'most' as 'exact' }),
            InvalidArgumentError,
            /mode/,
          ],
          [
            'isolated not boolean',
            () => s.increment('c', 1, { isolated: 'no' as unknown as boolean }),
            InvalidArgumentError,
            /isolated/,
          ],
          [
            'numShards 0',
            () => s.createCounter('c', { numShards: 0 }),
            InvalidArgumentError,
            /numShards/,
          ],
          [
            'numShards 1.5',
            () => s.createCounter('c', { numShards: 1.5 }),
            InvalidArgumentError,
            /numShards/,
          ],
          [
            'numShards too many',
            () => s.updateCounter('c', { numShards: MAX_SHARDS + 1 }),
            InvalidArgumentError,
            /from 1 to 1000/,
          ],
          [
            'status DELETING',
            () => s.updateCounter('c', { status: 'DELETING' as 'AVAILABLE' }),
            InvalidArgumentError,
            /AVAILABLE or READ_ONLY_COUNT/,
          ],
          [
            'description too long',
            () => s.createCounter('c', { description: 'd'.repeat(1501) }),
            InvalidArgumentError,
            /description/i,
          ],
          ['delete blank', () => s.delete(' \t'), InvalidArgumentError, /non-blank/],
          [
            'reset non-string',
            () => s.reset(null as unknown as string),
            InvalidArgumentError,
            /null/,
          ],
        ];
        for (const [label, call, type, message] of bad) {
          const outcome = call();
          await expect(outcome, label).rejects.toBeInstanceOf(type);
          await expect(call(), label).rejects.toThrow(message);
          const error = await call().catch((e: unknown) => e);
          expect((error as InvalidArgumentError).context.argument, label).toMatch(
            /^(name|amount|options)/,
          );
        }
        expect(total(store.calls)).toBe(0);
        expect(total(cache.calls)).toBe(0);
        expect(() => service({ numInitialShards: 0 })).toThrow(InvalidArgumentError);
        expect(() => service({ cacheTtlSeconds: -1 })).toThrow(InvalidArgumentError);
        expect(() => service({ autoShard: { maxShards: MAX_SHARDS + 1 } })).toThrow(
          InvalidArgumentError,
        );
        expect(() => service({ maxWritesPerTransaction: 501 })).toThrow(/more than the store/);
      });
    });
  });
}
