import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EntityStore, RetryPolicy } from '../entity/entity-store.js';
import { defineKind, type Key, key } from '../entity/key.js';
import { ContentionError, InvalidArgumentError, LimitExceededError } from '../errors/index.js';
import type { ContractTestApi } from './contract-test-api.js';
import { registerCancellationContract } from './entity-cancellation-contract.js';
import { registerListingContract } from './entity-listing-contract.js';

/** Switches for what an entity store under test supports and how hard to push it. */
export interface EntityStoreContractCapabilities {
  /**
   * Retry policy for the 50-way contention test; a slow backend needs more patience.
   * Default `{ retries: 200, minTimeoutMs: 5, maxTimeoutMs: 100 }`.
   */
  readonly contentionRetry?: Partial<RetryPolicy>;
  /** Run the 1,000- and 2,500-entity batch tests. Default true. */
  readonly largeBatches?: boolean;
  /** Per-test timeout in milliseconds. Default 60,000. */
  readonly timeoutMs?: number;
}

/** What {@link runEntityStoreContract} needs to know about the store under test. */
export interface EntityStoreContractOptions {
  /** Name shown in the test report. */
  readonly name: string;
  /** Makes the store a test uses: fresh, or isolated from other tests (e.g. a new namespace). */
  readonly create: () => EntityStore | Promise<EntityStore>;
  /** Capability switches. */
  readonly capabilities?: EntityStoreContractCapabilities;
}

interface Item {
  n: number;
  label?: string | undefined;
}

/**
 * Registers the conformance tests every `EntityStore` passes: CRUD, listing (key prefix,
 * cursor, limit and filters, paging while others write), cancellation (`signal` on every
 * call and on `transact`: before, during work, during backoff; nothing written), batches of 0, 1, 1,000 and 2,500, validation before I/O, transaction isolation and rollback, nesting of
 * `transact`/`transactNew`/`transactionless`, the ambient transaction across awaits and
 * parallel branches, and 50 concurrent read-modify-write increments ending at exactly 50.
 * Each test uses fresh random kinds, so tests never see each other's data.
 */
export function runEntityStoreContract(
  api: ContractTestApi,
  options: EntityStoreContractOptions,
): void {
  const caps = options.capabilities ?? {};
  const timeout = caps.timeoutMs ?? 60_000;
  const it = (name: string, body: (store: EntityStore) => Promise<void>): void =>
    api.test(
      name,
      async () => {
        const store = await options.create();
        try {
          await body(store);
        } finally {
          await store.close();
        }
      },
      timeout,
    );
  const items = () => defineKind<Item>(`Item_${randomUUID().slice(0, 8)}`);
  const keysOf = (kind: ReturnType<typeof items>, count: number): Array<Key<Item>> =>
    Array.from({ length: count }, (_, i) => kind.key(`k${String(i).padStart(5, '0')}`));

  api.describe(`EntityStore contract: ${options.name}`, () => {
    api.describe('CRUD', () => {
      it('load of a missing entity is undefined', async (store) => {
        assert.equal(await store.load(items().key('absent')), undefined);
      });

      it('save then load returns an equal copy; save replaces, it does not merge', async (store) => {
        const k = items().key('a');
        await store.save(k, { n: 1, label: 'one' });
        const loaded = await store.load(k);
        assert.deepEqual(loaded, { n: 1, label: 'one' });
        loaded!.n = 99;
        assert.deepEqual(await store.load(k), { n: 1, label: 'one' }, 'loaded objects are copies');
        await store.save(k, { n: 2 });
        assert.deepEqual(await store.load(k), { n: 2 });
      });

      it('round-trips every supported value type exactly', async (store) => {
        const Doc = defineKind<Record<string, unknown>>(`Doc_${randomUUID().slice(0, 8)}`);
        const value = {
          text: 'héllo ☃',
          long: 'x'.repeat(2000),
          int: 42,
          negative: -7,
          maxSafe: Number.MAX_SAFE_INTEGER,
          minSafe: Number.MIN_SAFE_INTEGER,
          double: 3.25,
          yes: true,
          no: false,
          nothing: null,
          when: new Date('2026-01-02T03:04:05.678Z'),
          list: [1, 'two', false, null],
          nested: { a: 1, b: { c: 'deep' } },
        };
        await store.save(Doc.key('v'), value);
        assert.deepEqual(await store.load(Doc.key('v')), value);
      });

      it('undefined properties are left out', async (store) => {
        const k = items().key('u');
        await store.save(k, { n: 1, label: undefined });
        const loaded = await store.load(k);
        assert.deepEqual(loaded, { n: 1 });
        assert.equal(Object.hasOwn(loaded!, 'label'), false);
      });

      it('delete removes, and deleting a missing entity is not an error', async (store) => {
        const k = items().key('d');
        await store.save(k, { n: 1 });
        await store.delete(k);
        assert.equal(await store.load(k), undefined);
        await store.delete(k);
      });

      it('keys of different kinds with the same name are different entities', async (store) => {
        const a = items();
        const b = items();
        await store.save(a.key('same'), { n: 1 });
        await store.save(b.key('same'), { n: 2 });
        assert.deepEqual(await store.loadMany([a.key('same'), b.key('same')]), [
          { n: 1 },
          { n: 2 },
        ]);
      });

      it('query filters on equality, orders by key name and honours limit', async (store) => {
        const kind = items();
        await store.saveMany([
          { key: kind.key('c'), entity: { n: 1, label: 'x' } },
          { key: kind.key('a'), entity: { n: 1, label: 'y' } },
          { key: kind.key('b'), entity: { n: 2, label: 'x' } },
        ]);
        const ones = await store.query(kind, { filters: [{ property: 'n', value: 1 }] });
        assert.deepEqual(
          ones.map((r) => r.key.name),
          ['a', 'c'],
        );
        assert.deepEqual(ones[0]?.entity, { n: 1, label: 'y' });
        const all = await store.query(kind, { limit: 2 });
        assert.deepEqual(
          all.map((r) => r.key.name),
          ['a', 'b'],
        );
      });
    });

    api.describe('listing: keyPrefix, startAfter and limit', () => {
      registerListingContract(it);
    });

    api.describe('cancellation: signal on every call and on transact', () => {
      registerCancellationContract(it);
    });

    api.describe('validation before I/O', () => {
      it('rejects bad keys and values with InvalidArgumentError, writing nothing', async (store) => {
        const kind = items();
        assert.throws(() => key('', 'x'), InvalidArgumentError);
        assert.throws(() => key('K', ''), InvalidArgumentError);
        assert.throws(() => kind.key('é'.repeat(751)), /1502 bytes/);
        kind.key('x'.repeat(1500));
        await assert.rejects(store.load({ kind: 'K', name: '' }), InvalidArgumentError);
        const bad: unknown[] = [
          { n: Number.NaN },
          { n: Number.POSITIVE_INFINITY },
          { n: 2 ** 60 },
          { n: 1, f: () => 1 },
          { n: 1, big: 10n },
          { n: 1, m: new Map() },
          { n: 1, nested: [[1]] },
          'not an object',
        ];
        for (const value of bad) {
          await assert.rejects(store.save(kind.key('bad'), value as Item), InvalidArgumentError);
        }
        await assert.rejects(
          store.saveMany([
            { key: kind.key('good'), entity: { n: 1 } },
            { key: kind.key('bad'), entity: { n: Number.NaN } },
          ]),
          InvalidArgumentError,
        );
        assert.deepEqual(await store.loadMany([kind.key('good'), kind.key('bad')]), [
          undefined,
          undefined,
        ]);
      });

      it('refuses wrong shapes with InvalidArgumentError naming the argument, writing nothing', async (store) => {
        const kind = items();
        const good = kind.key('good');
        const refuses = async (call: () => Promise<unknown>, argument: string): Promise<void> => {
          await assert.rejects(call, (error: unknown) => {
            assert.ok(error instanceof InvalidArgumentError, `${argument}: ${String(error)}`);
            assert.equal(error.context.argument, argument);
            return true;
          });
        };
        const loose = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        const call =
          (method: string, ...args: unknown[]) =>
          (): Promise<unknown> =>
            loose[method]!.call(store, ...args);
        await refuses(call('load', null), 'key');
        await refuses(call('load', { kind: 'K', name: '\uD800' }), 'key.name');
        await refuses(call('loadMany', null), 'keys');
        await refuses(call('loadMany', 'abc'), 'keys');
        await refuses(call('loadMany', [good, { kind: 'K' }]), 'keys[1].name');
        await refuses(
          call('save', good, Object.assign(Object.create(null), { n: 1n })),
          'entity.n',
        );
        const cyclic: Record<string, unknown> = { n: 1 };
        cyclic.self = cyclic;
        await refuses(call('save', good, cyclic), 'entity.self');
        await refuses(call('saveMany', null), 'entries');
        await refuses(call('saveMany', [null]), 'entries[0]');
        await refuses(
          call('saveMany', [{ key: good, entity: { n: 1 } }, { key: 'x' }]),
          'entries[1].key',
        );
        await refuses(call('delete', undefined), 'key');
        await refuses(call('deleteMany', 42), 'keys');
        await refuses(call('query', null), 'kind');
        await refuses(call('query', kind, null), 'options');
        await refuses(call('query', kind, { limt: 1 }), 'options.limt');
        for (const limit of [-1, 1.5, Number.NaN, 2 ** 31, '1']) {
          await refuses(call('query', kind, { limit }), 'options.limit');
        }
        for (const keyPrefix of [42, null, '\uD800', 'x'.repeat(1501)]) {
          await refuses(call('query', kind, { keyPrefix }), 'options.keyPrefix');
        }
        for (const startAfter of [42, '', '__cursor__', '\uDC00', 'x'.repeat(1501)]) {
          await refuses(call('query', kind, { startAfter }), 'options.startAfter');
        }
        await refuses(call('query', kind, { filters: 'n' }), 'options.filters');
        await refuses(call('query', kind, { filters: [null] }), 'options.filters[0]');
        await refuses(
          call('query', kind, { filters: [{ property: '', value: 1 }] }),
          'options.filters[0].property',
        );
        for (const value of [Number.NaN, 2 ** 60, undefined, {}, [1]]) {
          await refuses(
            call('query', kind, { filters: [{ property: 'n', value }] }),
            'options.filters[0].value',
          );
        }
        let ran = 0;
        const work = async (): Promise<void> => {
          ran += 1;
          await store.save(good, { n: 1 });
        };
        for (const method of ['transact', 'transactNew']) {
          await refuses(call(method, 42), 'work');
          await refuses(call(method, work, null), 'options');
          await refuses(call(method, work, { retyr: {} }), 'options.retyr');
          await refuses(call(method, work, { retry: 'many' }), 'options.retry');
          await refuses(call(method, work, { retry: { retries: -1 } }), 'options.retry.retries');
          await refuses(
            call(method, work, { retry: { maxTimeoutMs: 2 ** 31 } }),
            'options.retry.maxTimeoutMs',
          );
          await refuses(call(method, work, { onRetry: 'log' }), 'options.onRetry');
        }
        await refuses(call('transactionless', 'work'), 'work');
        await refuses(call('afterCommit', 42), 'callback');
        await store.transact(async () => {
          await refuses(call('afterCommit', null), 'callback');
          await refuses(call('transact', null), 'work');
        });
        assert.equal(ran, 0, 'work with bad options never ran');
        assert.throws(() => key('K', '\uD800'), InvalidArgumentError);
        assert.equal(await store.load(good), undefined);
      });
    });

    api.describe('batches', () => {
      const sizes = caps.largeBatches === false ? [0, 1] : [0, 1, 1000, 2500];
      for (const size of sizes) {
        it(`saveMany, loadMany and deleteMany of ${size} entities`, async (store) => {
          const kind = items();
          const keys = keysOf(kind, size);
          await store.saveMany(keys.map((k, i) => ({ key: k, entity: { n: i } })));
          const probe = [...keys, kind.key('missing')].reverse();
          const loaded = await store.loadMany(probe);
          assert.equal(loaded.length, size + 1);
          assert.equal(loaded[0], undefined);
          for (const [i, entity] of loaded.slice(1).entries()) {
            assert.deepEqual(entity, { n: size - 1 - i });
          }
          await store.deleteMany(keys);
          const after = await store.loadMany(keys);
          assert.ok(after.every((e) => e === undefined));
        });
      }

      it('loadMany returns repeated keys in every position asked', async (store) => {
        const kind = items();
        await store.save(kind.key('a'), { n: 1 });
        assert.deepEqual(await store.loadMany([kind.key('a'), kind.key('b'), kind.key('a')]), [
          { n: 1 },
          undefined,
          { n: 1 },
        ]);
      });
    });

    api.describe('transactions', () => {
      it('writes apply only at commit and the transaction reads its own writes', async (store) => {
        const k = items().key('t');
        await store.transact(async () => {
          assert.equal(store.inTransaction, true);
          await store.save(k, { n: 1 });
          assert.deepEqual(await store.load(k), { n: 1 });
          const outside = await store.transactionless(() => store.load(k));
          assert.equal(outside, undefined, 'uncommitted write visible outside');
          await store.delete(k);
          assert.equal(await store.load(k), undefined);
          await store.save(k, { n: 2 });
        });
        assert.equal(store.inTransaction, false);
        assert.deepEqual(await store.load(k), { n: 2 });
      });

      it('a throw rolls everything back and reaches the caller unchanged', async (store) => {
        const kind = items();
        await store.save(kind.key('a'), { n: 1 });
        const boom = new Error('boom');
        await assert.rejects(
          store.transact(async () => {
            await store.save(kind.key('a'), { n: 2 });
            await store.save(kind.key('b'), { n: 2 });
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.deepEqual(await store.loadMany([kind.key('a'), kind.key('b')]), [
          { n: 1 },
          undefined,
        ]);
      });

      it('a transaction that read stale data is retried and sees the new value', async (store) => {
        const k = items().key('race');
        await store.save(k, { n: 0 });
        let attempts = 0;
        await store.transact(
          async () => {
            attempts += 1;
            const current = await store.load(k);
            if (attempts === 1) {
              await store.transactNew(async () => store.save(k, { n: 10 }));
            }
            await store.save(k, { n: current!.n + 1 });
          },
          { retry: { retries: 5, minTimeoutMs: 1, maxTimeoutMs: 5 } },
        );
        assert.equal(attempts, 2);
        assert.deepEqual(await store.load(k), { n: 11 });
      });

      it('contention past the retry budget surfaces as ContentionError, nothing written', async (store) => {
        const kind = items();
        const k = kind.key('race');
        await store.save(k, { n: 0 });
        let retries = 0;
        await assert.rejects(
          store.transact(
            async () => {
              const current = await store.load(k);
              await store.transactNew(async () => store.save(k, { n: current!.n + 100 }));
              await store.save(kind.key('side'), { n: 1 });
              await store.save(k, { n: current!.n + 1 });
            },
            {
              retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 2 },
              onRetry: () => (retries += 1),
            },
          ),
          ContentionError,
        );
        assert.equal(retries, 2);
        assert.deepEqual(await store.load(k), { n: 300 });
        assert.equal(await store.load(kind.key('side')), undefined);
      });

      it('a transaction writing more than the backend allows fails with LimitExceededError', async (store) => {
        const kind = items();
        const keys = keysOf(kind, 501);
        await assert.rejects(
          store.transact(async () => {
            await store.saveMany(keys.map((k) => ({ key: k, entity: { n: 1 } })));
          }),
          LimitExceededError,
        );
        assert.equal(await store.load(keys[0]!), undefined);
      });

      it('50 concurrent read-modify-write increments of one entity end at exactly 50', async (store) => {
        const k = items().key('hot');
        const retry = { retries: 200, minTimeoutMs: 5, maxTimeoutMs: 100, ...caps.contentionRetry };
        await Promise.all(
          Array.from({ length: 50 }, () =>
            store.transact(
              async () => {
                const current = await store.load(k);
                await store.save(k, { n: (current?.n ?? 0) + 1 });
              },
              { retry },
            ),
          ),
        );
        assert.deepEqual(await store.load(k), { n: 50 });
      });
    });

    api.describe('nesting and the ambient transaction', () => {
      it('transact inside transact joins: one commit, one rollback', async (store) => {
        const kind = items();
        await assert.rejects(
          store.transact(async (outer) => {
            await store.transact(async (inner) => {
              assert.equal(inner.attempt, outer.attempt);
              await store.save(kind.key('inner'), { n: 1 });
            });
            assert.deepEqual(await store.load(kind.key('inner')), { n: 1 });
            throw new Error('outer fails');
          }),
          /outer fails/,
        );
        assert.equal(
          await store.load(kind.key('inner')),
          undefined,
          'joined write survived rollback',
        );
      });

      it('transactNew commits on its own while the outer transaction rolls back', async (store) => {
        const kind = items();
        await assert.rejects(
          store.transact(async () => {
            await store.save(kind.key('outer'), { n: 1 });
            await store.transactNew(async () => {
              assert.equal(await store.load(kind.key('outer')), undefined, 'outer write leaked');
              await store.save(kind.key('new'), { n: 2 });
            });
            assert.equal(store.inTransaction, true);
            throw new Error('outer fails');
          }),
          /outer fails/,
        );
        assert.deepEqual(await store.loadMany([kind.key('outer'), kind.key('new')]), [
          undefined,
          { n: 2 },
        ]);
      });

      it('transactionless inside a transaction writes at once and outside it', async (store) => {
        const kind = items();
        await assert.rejects(
          store.transact(async () => {
            await store.transactionless(async () => {
              assert.equal(store.inTransaction, false);
              await store.save(kind.key('now'), { n: 1 });
            });
            throw new Error('outer fails');
          }),
          /outer fails/,
        );
        assert.deepEqual(await store.load(kind.key('now')), { n: 1 });
      });

      it('the ambient transaction follows awaits, timers and parallel branches', async (store) => {
        const kind = items();
        const keys = keysOf(kind, 20);
        await assert.rejects(
          store.transact(async () => {
            await sleep(5);
            await Promise.all(
              keys.map(async (k, i) => {
                await sleep(i % 3);
                await store.save(k, { n: i });
              }),
            );
            await new Promise<void>((resolve) => setImmediate(resolve));
            const seen = await store.loadMany(keys);
            assert.ok(
              seen.every((e, i) => e?.n === i),
              'branch writes not visible in the transaction',
            );
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.ok(
          (await store.loadMany(keys)).every((e) => e === undefined),
          'branch write escaped',
        );
        await store.transact(async () => {
          await Promise.all(keys.map(async (k, i) => store.save(k, { n: i })));
        });
        assert.ok((await store.loadMany(keys)).every((e, i) => e?.n === i));
      });

      it('afterCommit runs after the commit, outside the transaction, once per success', async (store) => {
        const k = items().key('ac');
        const seen: Array<{ n: number | undefined; inTransaction: boolean }> = [];
        let attempts = 0;
        await store.transact(
          async () => {
            attempts += 1;
            const current = await store.load(k);
            await store.afterCommit(async () => {
              seen.push({ n: (await store.load(k))?.n, inTransaction: store.inTransaction });
            });
            if (attempts === 1) await store.transactNew(async () => store.save(k, { n: 10 }));
            await store.save(k, { n: (current?.n ?? 0) + 1 });
          },
          { retry: { retries: 5, minTimeoutMs: 1, maxTimeoutMs: 5 } },
        );
        assert.equal(attempts, 2);
        assert.deepEqual(seen, [{ n: 11, inTransaction: false }], 'ran for the losing attempt too');
      });

      it('afterCommit never runs for a rolled-back transaction; outside one it runs at once', async (store) => {
        let ran = 0;
        await assert.rejects(
          store.transact(async () => {
            await store.afterCommit(() => {
              ran += 1;
            });
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.equal(ran, 0);
        await store.afterCommit(() => {
          ran += 1;
        });
        assert.equal(ran, 1);
        await store.transact(async () => {
          await store.afterCommit(() => {
            throw new Error('a failing callback does not fail the committed transaction');
          });
          await store.afterCommit(() => {
            ran += 1;
          });
        });
        assert.equal(ran, 2);
      });

      it('exposes positive per-call limits', async (store) => {
        assert.ok(store.limits.maxLookupKeys >= 1);
        assert.ok(store.limits.maxMutationsPerCommit >= 1);
      });

      it('work that outlives its transaction cannot use it', async (store) => {
        const k = items().key('late');
        let late: Promise<void> | undefined;
        await store.transact(async () => {
          late = sleep(20).then(() => store.save(k, { n: 1 }));
        });
        await assert.rejects(late!, /already committed or rolled back/);
        assert.equal(await store.load(k), undefined);
      });
    });
  });
}
