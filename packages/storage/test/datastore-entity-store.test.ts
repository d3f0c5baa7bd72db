import { randomUUID } from 'node:crypto';
import { Datastore, PropertyFilter } from '@google-cloud/datastore';
import { createEmulatorClient, realEntityStore } from '@shardcount/test-services';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BackendEntityStore } from '../src/entity/backend-entity-store.js';
import {
  DatastoreEntityBackend,
  DatastoreEntityStore,
} from '../src/entity/datastore-entity-store.js';
import type {
  BackendQuery,
  BackendTransaction,
  EntityBackend,
  Mutation,
} from '../src/entity/entity-backend.js';
import { defineKind, type Key, type Kind, key } from '../src/entity/key.js';
import {
  AmbiguousCommitError,
  ContentionError,
  InvalidArgumentError,
  LimitExceededError,
  OutOfRangeError,
  ShardcountError,
  StoreUnavailableError,
} from '../src/errors/index.js';

// One namespace for this file: the emulator is shared with every other test file.
const namespace = `datastore-store-${randomUUID()}`;
const FAST_RETRY = { retries: 5, minTimeoutMs: 1, maxTimeoutMs: 5 };

interface Counter {
  n: number;
  label?: string;
}

/** A kind no other test uses. */
function freshKind<T extends object = Counter>(label = 'Item'): Kind<T> {
  return defineKind<T>(`${label}_${randomUUID().slice(0, 8)}`);
}

/** A client of the shared emulator, for writing and inspecting data behind the store's back. */
function client(ns: string | undefined = namespace): Datastore {
  return createEmulatorClient(
    inject('datastoreEmulatorAddress'),
    inject('datastoreProjectId'),
    ns === undefined ? {} : { namespace: ns },
  );
}

/** Closes a client's channels (through a backend, which knows how). */
function closeClient(datastore: Datastore): Promise<void> {
  return new DatastoreEntityBackend({ datastore }).close();
}

/** An error shaped like the ones google-gax rejects with. */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

type AnyFunction = (...args: unknown[]) => unknown;

/** A property value as `@google-cloud/datastore` sends it in a commit request. */
interface NativeValue {
  excludeFromIndexes?: boolean;
  arrayValue?: { values: NativeValue[] };
  entityValue?: { properties?: Record<string, NativeValue> };
}

/** Replaces `target[method]` on that instance; `replacement` gets the original, bound. */
function patch(
  target: object,
  method: string,
  replacement: (original: AnyFunction, ...args: unknown[]) => unknown,
): void {
  const slots = target as Record<string, AnyFunction>;
  const original = (slots[method] as AnyFunction).bind(target);
  slots[method] = (...args: unknown[]) => replacement(original, ...args);
}

/**
 * Enforces Cloud Datastore's production limits, which the emulator does not, and records the
 * size of every lookup and commit, so tests can see how the store chunks.
 */
class ProductionLimitsBackend implements EntityBackend {
  readonly lookups: number[] = [];
  readonly commits: number[] = [];
  readonly description: string;
  readonly limits: EntityBackend['limits'];

  constructor(readonly inner: EntityBackend) {
    this.description = `production-limits(${inner.description})`;
    this.limits = inner.limits;
  }

  beginTransaction(): Promise<BackendTransaction> {
    return this.inner.beginTransaction();
  }

  async lookup(keys: readonly Key[], transaction?: BackendTransaction) {
    this.lookups.push(keys.length);
    if (keys.length > 1000) {
      throw new LimitExceededError(`cannot get more than 1000 keys; got ${keys.length}`);
    }
    return this.inner.lookup(keys, transaction);
  }

  async commit(mutations: readonly Mutation[], transaction?: BackendTransaction) {
    this.commits.push(mutations.length);
    if (mutations.length > 500) {
      throw new LimitExceededError(`cannot write more than 500 entities; got ${mutations.length}`);
    }
    return this.inner.commit(mutations, transaction);
  }

  rollback(transaction: BackendTransaction): Promise<void> {
    return this.inner.rollback(transaction);
  }

  query(query: BackendQuery) {
    return this.inner.query(query);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('DatastoreEntityStore on the Datastore emulator', () => {
  let store: DatastoreEntityStore;
  let raw: Datastore;

  beforeAll(() => {
    store = realEntityStore({ namespace, retry: FAST_RETRY });
    raw = client();
  });

  afterAll(async () => {
    await store?.close();
    if (raw) await closeClient(raw);
  });

  describe('CRUD and values', () => {
    it('saves, loads, replaces and deletes', async () => {
      const k = freshKind().key('a');
      expect(await store.load(k)).toBeUndefined();
      await store.save(k, { n: 1, label: 'one' });
      expect(await store.load(k)).toEqual({ n: 1, label: 'one' });
      await store.save(k, { n: 2 });
      expect(await store.load(k)).toEqual({ n: 2 });
      await store.delete(k);
      expect(await store.load(k)).toBeUndefined();
      await store.delete(k);
    });

    it('round-trips every value type as plain data, without the Datastore key symbol', async () => {
      const k = freshKind<Record<string, unknown>>('Doc').key('values');
      const value = {
        text: 'héllo ☃ 😀',
        empty: '',
        long: 'x'.repeat(2000),
        int: 42,
        zero: 0,
        negativeZero: -0,
        negative: -7,
        maxSafe: Number.MAX_SAFE_INTEGER,
        minSafe: Number.MIN_SAFE_INTEGER,
        double: 3.25,
        tiny: 5e-324,
        fraction: 123456789.125,
        yes: true,
        no: false,
        nothing: null,
        when: new Date('2026-01-02T03:04:05.678Z'),
        epoch: new Date(0),
        list: [1, 'two', false, null, 2.5, new Date(5), { inList: 'y'.repeat(2000) }],
        emptyList: [],
        emptyObject: {},
        nested: { a: 1, b: { c: 'deep', list: [{ x: 1 }] }, long: 'z'.repeat(2000) },
      };
      await store.save(k, value);
      const loaded = await store.load(k);
      expect(loaded).toEqual(value);
      expect(Object.is(loaded?.negativeZero, -0)).toBe(true);
      expect(loaded?.when).toBeInstanceOf(Date);
      expect(Object.getOwnPropertySymbols(loaded)).toEqual([]);
      expect(Object.getPrototypeOf(loaded?.nested)).toBe(Object.prototype);
    });

    it('stores whole numbers as Datastore integers and fractions as doubles', async () => {
      const k = freshKind<Record<string, number>>('Num').key('n');
      await store.save(k, {
        int: 7,
        wholeDouble: 3.0,
        fraction: 0.5,
        max: Number.MAX_SAFE_INTEGER,
      });
      const [native] = await raw.get(raw.key([k.kind, k.name]), { wrapNumbers: true });
      expect(Datastore.isInt(native.int)).toBe(true);
      // JavaScript cannot tell 3.0 from 3: a whole-valued double is written as an integer.
      expect(Datastore.isInt(native.wholeDouble)).toBe(true);
      expect(Datastore.isInt(native.fraction)).toBe(false);
      expect(native.max.value).toBe('9007199254740991');
      expect(await store.load(k)).toEqual({
        int: 7,
        wholeDouble: 3,
        fraction: 0.5,
        max: 2 ** 53 - 1,
      });
    });

    it('stores strings over 1500 bytes unindexed, which the emulator would otherwise refuse', async () => {
      const kind = freshKind<{ s: string }>('Long');
      const long = 'é'.repeat(1000); // 2000 UTF-8 bytes
      // Proof that the option matters: written indexed, the same value is rejected.
      await expect(
        raw.save({ key: raw.key([kind.name, 'indexed']), data: { s: long } }),
      ).rejects.toMatchObject({ code: 3 });
      await store.save(kind.key('ok'), { s: long });
      expect(await store.load(kind.key('ok'))).toEqual({ s: long });
    });

    it('reads an unsafe integer written by another client as OutOfRangeError, never rounded', async () => {
      const kind = freshKind<Record<string, unknown>>('Big');
      await raw.save([
        { key: raw.key([kind.name, 'top']), data: { v: raw.int('9007199254740993') } },
        { key: raw.key([kind.name, 'edge']), data: { v: raw.int('9007199254740992') } },
        {
          key: raw.key([kind.name, 'nested']),
          data: { outer: { list: [raw.int('1'), raw.int('-9007199254740993')] } },
        },
        { key: raw.key([kind.name, 'safe']), data: { v: raw.int('-9007199254740991') } },
      ]);
      await expect(store.load(kind.key('top'))).rejects.toSatisfy(
        (error) => error instanceof OutOfRangeError && error.context.property === 'v',
      );
      await expect(store.load(kind.key('edge'))).rejects.toThrow(OutOfRangeError);
      await expect(store.load(kind.key('nested'))).rejects.toSatisfy(
        (error) => error instanceof OutOfRangeError && error.context.property === 'outer.list[1]',
      );
      await expect(store.query(kind)).rejects.toThrow(OutOfRangeError);
      expect(await store.load(kind.key('safe'))).toEqual({ v: -9007199254740991 });
    });

    it('refuses Datastore-only values written by another client', async () => {
      const kind = freshKind<Record<string, unknown>>('Blob');
      await raw.save({ key: raw.key([kind.name, 'b']), data: { b: Buffer.from('bytes') } });
      await expect(store.load(kind.key('b'))).rejects.toSatisfy(
        (error) => error instanceof ShardcountError && error.code === 'UNSUPPORTED_VALUE',
      );
    });
  });

  describe('unindexed properties (defineKind options)', () => {
    interface Tracked {
      color: string;
      count: number;
      updatedAt: Date;
      drained: Array<{ epoch: number; up: number }>;
      tags: string[];
      meta: { a: number; b: { c: string; long: string } };
    }
    const unindexed = ['count', 'updatedAt', 'drained', 'tags', 'meta'] as const;
    const updatedAt = new Date('2026-05-06T07:08:09.123Z');
    const entity: Tracked = {
      color: 'red',
      count: 42,
      updatedAt,
      drained: [
        { epoch: 5, up: 1 },
        { epoch: 6, up: 2 },
      ],
      tags: ['x', 'y'],
      // A long string inside an unindexed map: Datastore checks sub-properties on their own.
      meta: { a: 1, b: { c: 'deep', long: 'z'.repeat(2000) } },
    };

    it('are stored and loaded unchanged, and a Datastore query cannot filter on them', async () => {
      const kind = freshKind<Tracked>('Unindexed');
      const withOptions = defineKind<Tracked>(kind.name, { unindexed: [...unindexed] });
      await store.save(withOptions.key('a'), entity);
      await store.transact(() => store.save(withOptions.key('b'), entity));
      // The same kind written through plain keys is indexed in full: the control.
      await store.save(key<Tracked>(kind.name, 'plain'), entity);
      for (const name of ['a', 'b', 'plain']) {
        expect(await store.load(withOptions.key(name))).toEqual(entity);
      }
      const names = async (property: string, value: string | number) =>
        (await store.query(withOptions, { filters: [{ property, value }] })).map(
          (row) => row.key.name,
        );
      expect(await names('color', 'red')).toEqual(['a', 'b', 'plain']);
      expect(await names('count', 42)).toEqual(['plain']);
      expect(await names('drained.epoch', 5)).toEqual(['plain']);
      expect(await names('drained.up', 2)).toEqual(['plain']);
      expect(await names('tags', 'x')).toEqual(['plain']);
      expect(await names('meta.a', 1)).toEqual(['plain']);
      expect(await names('meta.b.c', 'deep')).toEqual(['plain']);
      // Timestamps cannot go through a store filter; ask the client directly.
      const [byTime] = await raw.runQuery(
        raw
          .createQuery(namespace, kind.name)
          .filter(new PropertyFilter('updatedAt', '=', updatedAt)),
      );
      expect(byTime.map((row) => row[raw.KEY].name)).toEqual(['plain']);
    });

    it('marks every value and sub-property unindexed in the commit request, as production needs', async () => {
      const datastore = client();
      const commits: unknown[] = [];
      patch(datastore, 'request_', (original, config, callback) => {
        const { method, reqOpts } = config as { method: string; reqOpts: { mutations: unknown } };
        if (method === 'commit') commits.push(reqOpts.mutations);
        return original(config, callback);
      });
      const recording = new DatastoreEntityStore({ datastore, namespace });
      try {
        const kind = defineKind<Tracked>(freshKind().name, { unindexed: [...unindexed] });
        await recording.save(kind.key('a'), entity);
        const [mutations] = commits as Array<
          Array<{ upsert: { properties: Record<string, NativeValue> } }>
        >;
        const properties = mutations?.[0]?.upsert.properties ?? {};
        // Each top-level value (each array item) and every leaf below it is excluded. An
        // embedded entity deeper down is not indexed itself, only through its leaves.
        const excluded: string[] = [];
        const indexed: string[] = [];
        const walk = (path: string, value: NativeValue, topLevel: boolean): void => {
          if (value.arrayValue) {
            for (const item of value.arrayValue.values) walk(`${path}[]`, item, topLevel);
            return;
          }
          const inner = Object.entries(value.entityValue?.properties ?? {});
          if (topLevel || value.entityValue === undefined) {
            (value.excludeFromIndexes === true ? excluded : indexed).push(path);
          }
          for (const [sub, item] of inner) walk(`${path}.${sub}`, item, false);
        };
        for (const [property, value] of Object.entries(properties)) walk(property, value, true);
        expect(indexed).toEqual(['color']);
        expect(new Set(excluded)).toEqual(
          new Set([
            'count',
            'updatedAt',
            'drained[]',
            'drained[].epoch',
            'drained[].up',
            'tags[]',
            'meta',
            'meta.a',
            'meta.b.c',
            'meta.b.long',
          ]),
        );
      } finally {
        await recording.close();
      }
    });
  });

  describe('batches', () => {
    it('loadMany of 2,500 keys returns every entity in the order asked, missing ones undefined', async () => {
      const kind = freshKind();
      const keys = Array.from({ length: 2500 }, (_, i) => kind.key(`k${i}`));
      const present = (i: number) => i % 5 === 3; // 500 present, 2,000 missing
      await store.saveMany(
        keys.flatMap((k, i) => (present(i) ? [{ key: k, entity: { n: i } }] : [])),
      );
      // A shuffled order: the store must map results back by key, not by position.
      const order = keys.map((_, i) => i).sort((a, b) => ((a * 7919) % 2503) - ((b * 7919) % 2503));
      const loaded = await store.loadMany(order.map((i) => keys[i] as Key<Counter>));
      expect(loaded).toHaveLength(2500);
      loaded.forEach((entity, position) => {
        const i = order[position] as number;
        expect(entity).toEqual(present(i) ? { n: i } : undefined);
      });
    });

    it('chunks to production limits: 1,200 saves in 3 commits, 2,500 loads in 3 lookups', async () => {
      const datastore = client();
      const limited = new ProductionLimitsBackend(
        new DatastoreEntityBackend({ datastore, namespace }),
      );
      const chunked = new BackendEntityStore(limited);
      try {
        // The wrapper really refuses what production refuses; the emulator alone would not.
        const tooMany = Array.from({ length: 1001 }, (_, i) => freshKind().key(`x${i}`));
        await expect(limited.lookup(tooMany)).rejects.toThrow(LimitExceededError);
        await expect(limited.inner.lookup(tooMany)).resolves.toHaveLength(1001);
        limited.lookups.length = 0;

        const kind = freshKind();
        const keys = Array.from({ length: 1200 }, (_, i) => kind.key(`k${i}`));
        await chunked.saveMany(keys.map((k, i) => ({ key: k, entity: { n: i } })));
        expect(limited.commits).toEqual([500, 500, 200]);

        const probe = [...keys, ...Array.from({ length: 1300 }, (_, i) => kind.key(`m${i}`))];
        const loaded = await chunked.loadMany(probe);
        expect([...limited.lookups].sort()).toEqual([1000, 1000, 500].sort());
        expect(loaded.slice(0, 1200)).toEqual(keys.map((_, i) => ({ n: i })));
        expect(loaded.slice(1200).every((e) => e === undefined)).toBe(true);

        limited.commits.length = 0;
        await chunked.deleteMany(keys);
        expect(limited.commits).toEqual([500, 500, 200]);
        expect((await store.loadMany(keys)).every((e) => e === undefined)).toBe(true);
      } finally {
        await chunked.close();
      }
    });

    it('a backend commit of upserts and deletes together applies both', async () => {
      const datastore = client();
      const backend = new DatastoreEntityBackend({ datastore, namespace });
      try {
        const kind = freshKind();
        await store.save(kind.key('old'), { n: 1 });
        await backend.commit([
          { type: 'upsert', key: kind.key('new'), entity: { n: 2 } },
          { type: 'delete', key: kind.key('old') },
        ]);
        expect(await store.loadMany([kind.key('old'), kind.key('new')])).toEqual([
          undefined,
          { n: 2 },
        ]);
      } finally {
        await backend.close();
      }
    });
  });

  describe('namespaces', () => {
    it('stores in different namespaces do not see each other', async () => {
      const kind = freshKind();
      const a = realEntityStore();
      const b = realEntityStore();
      const aAgain = realEntityStore({
        namespace: (a.backend as DatastoreEntityBackend).namespace as string,
      });
      try {
        await a.save(kind.key('same'), { n: 1 });
        expect(await b.load(kind.key('same'))).toBeUndefined();
        await b.save(kind.key('same'), { n: 2 });
        expect(await a.load(kind.key('same'))).toEqual({ n: 1 });
        expect(await aAgain.load(kind.key('same'))).toEqual({ n: 1 });
        expect((await a.query(kind)).map((r) => r.entity)).toEqual([{ n: 1 }]);
        expect((await b.query(kind)).map((r) => r.entity)).toEqual([{ n: 2 }]);
        await a.delete(kind.key('same'));
        expect(await b.load(kind.key('same'))).toEqual({ n: 2 });
      } finally {
        await Promise.all([a.close(), b.close(), aAgain.close()]);
      }
    });

    it("uses the client's namespace unless the namespace option overrides it", async () => {
      const kind = freshKind();
      const clientNamespace = `client-${randomUUID()}`;
      const viaClient = new DatastoreEntityStore({ datastore: client(clientNamespace) });
      const overridden = new DatastoreEntityStore({
        datastore: client(clientNamespace),
        namespace,
      });
      const inspect = client(clientNamespace);
      try {
        await viaClient.save(kind.key('c'), { n: 1 });
        await overridden.save(kind.key('o'), { n: 2 });
        const [inClient] = await inspect.get([
          inspect.key([kind.name, 'c']),
          inspect.key([kind.name, 'o']),
        ]);
        expect(inClient.map((e: Counter) => e.n)).toEqual([1]);
        expect(await store.load(kind.key('o'))).toEqual({ n: 2 });
        expect(viaClient.backend.description).toContain(clientNamespace);
      } finally {
        await Promise.all([viaClient.close(), overridden.close(), closeClient(inspect)]);
      }
    });
  });

  describe('query', () => {
    interface Shirt {
      color: string;
      size: number;
      onSale: boolean;
      tag?: string | null;
    }
    const kind = freshKind<Shirt>('Shirt');

    beforeAll(async () => {
      await store.saveMany([
        { key: kind.key('d'), entity: { color: 'red', size: 1.5, onSale: true } },
        { key: kind.key('a'), entity: { color: 'red', size: 1, onSale: true, tag: null } },
        { key: kind.key('c'), entity: { color: 'red', size: 2, onSale: false, tag: null } },
        { key: kind.key('b'), entity: { color: 'blue', size: 2, onSale: true, tag: 'x' } },
      ]);
    });

    const names = (rows: Array<{ key: Key }>) => rows.map((r) => r.key.name);

    it('returns the whole kind ordered by key name, as typed keys and plain entities', async () => {
      const rows = await store.query(kind);
      expect(names(rows)).toEqual(['a', 'b', 'c', 'd']);
      expect(rows[0]).toEqual({
        key: kind.key('a'),
        entity: { color: 'red', size: 1, onSale: true, tag: null },
      });
    });

    it('filters on equality of strings, integers, doubles, booleans and null, ANDed', async () => {
      const q = (filters: Array<{ property: string; value: string | number | boolean | null }>) =>
        store.query(kind, { filters }).then(names);
      expect(await q([{ property: 'color', value: 'red' }])).toEqual(['a', 'c', 'd']);
      expect(await q([{ property: 'size', value: 2 }])).toEqual(['b', 'c']);
      expect(await q([{ property: 'size', value: 1.5 }])).toEqual(['d']);
      expect(await q([{ property: 'onSale', value: false }])).toEqual(['c']);
      expect(await q([{ property: 'tag', value: null }])).toEqual(['a', 'c']);
      expect(
        await q([
          { property: 'color', value: 'red' },
          { property: 'size', value: 2 },
        ]),
      ).toEqual(['c']);
      expect(await q([{ property: 'color', value: 'green' }])).toEqual([]);
    });

    it('leaves out entities with numeric ids, which have no shardcount key', async () => {
      const mixed = freshKind<Shirt>('Mixed');
      await store.save(mixed.key('named'), { color: 'red', size: 1, onSale: true });
      await raw.save({ key: raw.key([mixed.name, 12345]), data: { color: 'red', size: 1 } });
      expect(names(await store.query(mixed))).toEqual(['named']);
      expect(
        names(await store.query(mixed, { filters: [{ property: 'color', value: 'red' }] })),
      ).toEqual(['named']);
    });

    it('honours limit', async () => {
      expect(names(await store.query(kind, { limit: 2 }))).toEqual(['a', 'b']);
      expect(
        names(
          await store.query(kind, { filters: [{ property: 'color', value: 'red' }], limit: 1 }),
        ),
      ).toEqual(['a']);
      expect(await store.query(kind, { limit: 0 })).toEqual([]);
    });

    it('rejects bad limits and filters before any I/O', async () => {
      await expect(store.query(kind, { limit: -1 })).rejects.toThrow(InvalidArgumentError);
      await expect(store.query(kind, { limit: 1.5 })).rejects.toThrow(InvalidArgumentError);
      await expect(
        store.query(kind, { filters: [{ property: 'size', value: Number.NaN }] }),
      ).rejects.toThrow(InvalidArgumentError);
      await expect(
        store.query(kind, { filters: [{ property: 'size', value: 2 ** 60 }] }),
      ).rejects.toThrow(InvalidArgumentError);
      await expect(store.query(kind, { filters: [{ property: '', value: 1 }] })).rejects.toThrow(
        InvalidArgumentError,
      );
    });
  });

  describe('transactions', () => {
    it('reads its own writes; nothing is visible outside before the commit', async () => {
      const kind = freshKind();
      await store.save(kind.key('a'), { n: 1 });
      await store.transact(async () => {
        await store.save(kind.key('a'), { n: 2 });
        await store.save(kind.key('b'), { n: 3 });
        expect(await store.loadMany([kind.key('a'), kind.key('b')])).toEqual([{ n: 2 }, { n: 3 }]);
        const outside = await store.transactionless(() =>
          store.loadMany([kind.key('a'), kind.key('b')]),
        );
        expect(outside).toEqual([{ n: 1 }, undefined]);
        await store.delete(kind.key('b'));
        expect(await store.load(kind.key('b'))).toBeUndefined();
      });
      expect(await store.loadMany([kind.key('a'), kind.key('b')])).toEqual([{ n: 2 }, undefined]);
    });

    it('a throw rolls back every write', async () => {
      const kind = freshKind();
      await store.save(kind.key('a'), { n: 1 });
      await expect(
        store.transact(async () => {
          await store.save(kind.key('a'), { n: 2 });
          await store.save(kind.key('b'), { n: 2 });
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.loadMany([kind.key('a'), kind.key('b')])).toEqual([{ n: 1 }, undefined]);
    });

    it('an outside write to what the transaction read makes its commit contend; the retry sees it', async () => {
      const k = freshKind().key('isolated');
      await store.save(k, { n: 0 });
      const seen: number[] = [];
      const retries: Error[] = [];
      await store.transact(
        async ({ attempt }) => {
          const current = (await store.load(k))?.n ?? 0;
          seen.push(current);
          if (attempt === 1) await store.transactionless(() => store.save(k, { n: 100 }));
          await store.save(k, { n: current + 1 });
        },
        { onRetry: (event) => retries.push(event.error) },
      );
      expect(seen).toEqual([0, 100]);
      expect(retries).toHaveLength(1);
      expect(retries[0]).toBeInstanceOf(ContentionError);
      expect((retries[0] as ContentionError).cause).toMatchObject({ code: 10 });
      expect(await store.load(k)).toEqual({ n: 101 });
    });

    it('parallel reads in one transaction all belong to it', async () => {
      const kind = freshKind();
      const keys = Array.from({ length: 8 }, (_, i) => kind.key(`k${i}`));
      await store.saveMany(keys.map((k) => ({ key: k, entity: { n: 0 } })));
      let attempts = 0;
      await store.transact(async () => {
        attempts += 1;
        // The transaction begins with the first of these lookups; the others must join it.
        const loaded = await Promise.all(keys.map((k) => store.load(k)));
        // A write behind the back of the last key read makes the commit contend only if
        // that read was part of the transaction.
        if (attempts === 1) await store.transactionless(() => store.save(keys[7]!, { n: 100 }));
        await store.saveMany(
          keys.map((k, i) => ({ key: k, entity: { n: (loaded[i]?.n ?? 0) + 1 } })),
        );
      });
      expect(attempts).toBe(2);
      expect((await store.loadMany(keys)).map((e) => e?.n)).toEqual([1, 1, 1, 1, 1, 1, 1, 101]);
    });

    it('50 concurrent read-modify-write increments of one entity end at exactly 50', async () => {
      const k = freshKind().key('hot');
      let contended = 0;
      await Promise.all(
        Array.from({ length: 50 }, () =>
          store.transact(
            async () => {
              const current = await store.load(k);
              await store.save(k, { n: (current?.n ?? 0) + 1 });
            },
            {
              retry: { retries: 200, minTimeoutMs: 5, maxTimeoutMs: 50 },
              onRetry: () => {
                contended += 1;
              },
            },
          ),
        ),
      );
      expect(await store.load(k)).toEqual({ n: 50 });
      // Real contention happened: Datastore lets one of many concurrent writers commit.
      expect(contended).toBeGreaterThan(0);
    });

    it('a transaction writing more than 500 entities fails with LimitExceededError, writing nothing', async () => {
      const kind = freshKind();
      const keys = Array.from({ length: 501 }, (_, i) => kind.key(`k${i}`));
      await expect(
        store.transact(async () => {
          await store.saveMany(keys.map((k) => ({ key: k, entity: { n: 1 } })));
        }),
      ).rejects.toThrow(LimitExceededError);
      expect(await store.load(keys[0] as Key<Counter>)).toBeUndefined();
    });
  });

  describe('failures from the client', () => {
    it('a transactional commit that times out after applying is AmbiguousCommitError, not retried', async () => {
      const datastore = client();
      patch(datastore, 'transaction', (original, ...args) => {
        const tx = original(...args) as object;
        patch(tx, 'commit', async (commit) => {
          await commit();
          throw grpcError(4, 'DEADLINE_EXCEEDED: Deadline exceeded');
        });
        return tx;
      });
      const faulty = new DatastoreEntityStore({ datastore, namespace, retry: FAST_RETRY });
      try {
        const k = freshKind().key('ambiguous');
        let attempts = 0;
        const error = await faulty
          .transact(async () => {
            attempts += 1;
            const current = await faulty.load(k);
            await faulty.save(k, { n: (current?.n ?? 0) + 1 });
          })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AmbiguousCommitError);
        expect((error as AmbiguousCommitError).cause).toMatchObject({ code: 4 });
        expect(attempts).toBe(1);
        // The commit did apply: exactly why it cannot be retried blindly.
        expect(await store.load(k)).toEqual({ n: 1 });
      } finally {
        await faulty.close();
      }
    });

    it('an unavailable non-transactional commit is AmbiguousCommitError', async () => {
      const datastore = client();
      patch(datastore, 'save', async () => {
        throw grpcError(14, 'UNAVAILABLE: Connection dropped');
      });
      const faulty = new DatastoreEntityStore({ datastore, namespace });
      try {
        await expect(faulty.save(freshKind().key('x'), { n: 1 })).rejects.toThrow(
          AmbiguousCommitError,
        );
      } finally {
        await faulty.close();
      }
    });

    it('unavailable before the commit is StoreUnavailableError, not retried, nothing written', async () => {
      const datastore = client();
      const unavailable = async () => {
        throw grpcError(14, 'UNAVAILABLE: No connection established');
      };
      patch(datastore, 'get', unavailable);
      patch(datastore, 'transaction', (original, ...args) => {
        const tx = original(...args) as object;
        patch(tx, 'run', unavailable); // begin of a transaction that read nothing
        patch(tx, 'get', unavailable); // a lookup, which would begin the transaction
        return tx;
      });
      const faulty = new DatastoreEntityStore({ datastore, namespace, retry: FAST_RETRY });
      try {
        const kind = freshKind();
        await expect(faulty.load(kind.key('x'))).rejects.toThrow(StoreUnavailableError);
        let runs = 0;
        await expect(
          faulty.transact(async () => {
            runs += 1;
            await faulty.save(kind.key('blind'), { n: 1 });
          }),
        ).rejects.toThrow(StoreUnavailableError);
        await expect(
          faulty.transact(async () => {
            runs += 1;
            await faulty.load(kind.key('read'));
            await faulty.save(kind.key('read'), { n: 1 });
          }),
        ).rejects.toThrow(StoreUnavailableError);
        expect(runs).toBe(2);
        expect(await store.loadMany([kind.key('blind'), kind.key('read')])).toEqual([
          undefined,
          undefined,
        ]);
      } finally {
        await faulty.close();
      }
    });

    it('ABORTED on a transactional read is contention: the transaction is retried', async () => {
      const datastore = client();
      let transactions = 0;
      patch(datastore, 'transaction', (original, ...args) => {
        const tx = original(...args) as object;
        if (++transactions === 1) {
          patch(tx, 'get', async () => {
            throw grpcError(10, 'ABORTED: too much contention on these datastore entities.');
          });
        }
        return tx;
      });
      const faulty = new DatastoreEntityStore({ datastore, namespace, retry: FAST_RETRY });
      try {
        const k = freshKind().key('retry');
        const attempts: number[] = [];
        await faulty.transact(async ({ attempt }) => {
          attempts.push(attempt);
          const current = await faulty.load(k);
          await faulty.save(k, { n: (current?.n ?? 0) + 1 });
        });
        expect(attempts).toEqual([1, 2]);
        expect(await store.load(k)).toEqual({ n: 1 });
      } finally {
        await faulty.close();
      }
    });

    it('callTimeoutMs defaults to 20 s and must be a positive integer of milliseconds', async () => {
      const datastore = client();
      try {
        expect(new DatastoreEntityBackend({ datastore }).callTimeoutMs).toBe(20_000);
        expect(new DatastoreEntityBackend({ datastore, callTimeoutMs: 1 }).callTimeoutMs).toBe(1);
        for (const bad of [
          0,
          -1,
          1.5,
          Number.NaN,
          Number.POSITIVE_INFINITY,
          2 ** 31,
          '100',
          null,
        ]) {
          expect(
            () => new DatastoreEntityStore({ datastore, callTimeoutMs: bad as number }),
            String(bad),
          ).toThrow(InvalidArgumentError);
        }
      } finally {
        await closeClient(datastore);
      }
    });

    it('passes callTimeoutMs to every library call as its own deadline (gax timeout)', async () => {
      const datastore = client();
      const seen: Array<[string, unknown]> = [];
      const record =
        (name: string, optionsAt: number) =>
        (original: AnyFunction, ...args: unknown[]) => {
          const options = args[optionsAt] as
            | { gaxOptions?: unknown; timeout?: unknown }
            | undefined;
          seen.push([name, options?.gaxOptions ?? options]);
          return original(...args);
        };
      patch(datastore, 'get', record('get', 1));
      patch(datastore, 'runQuery', record('runQuery', 1));
      patch(datastore, 'save', record('save', 1));
      patch(datastore, 'delete', record('delete', 1));
      patch(datastore, 'transaction', (original, ...args) => {
        const tx = original(...args) as object;
        patch(tx, 'run', record('tx.run', 0));
        patch(tx, 'get', record('tx.get', 1));
        patch(tx, 'commit', record('tx.commit', 0));
        patch(tx, 'rollback', record('tx.rollback', 0));
        return tx;
      });
      const timed = new DatastoreEntityStore({ datastore, namespace, callTimeoutMs: 4321 });
      try {
        const kind = freshKind();
        await timed.save(kind.key('a'), { n: 1 });
        await timed.load(kind.key('a'));
        await timed.query(kind);
        await timed.delete(kind.key('a'));
        await timed.transact(async () => {
          await timed.load(kind.key('a'));
          await timed.save(kind.key('a'), { n: 2 });
        });
        await timed.transact(() => timed.save(kind.key('b'), { n: 1 })); // begins explicitly
        await timed
          .transact(async () => {
            await timed.load(kind.key('a'));
            throw new Error('roll back');
          })
          .catch(() => undefined);
        expect(new Set(seen.map(([name]) => name))).toEqual(
          new Set([
            'save',
            'get',
            'runQuery',
            'delete',
            'tx.get',
            'tx.run',
            'tx.commit',
            'tx.rollback',
          ]),
        );
        for (const [name, options] of seen) expect(options, name).toEqual({ timeout: 4321 });
      } finally {
        await timed.close();
      }
    });

    it('a call that never settles fails at callTimeoutMs: StoreUnavailableError, or AmbiguousCommitError for a commit', async () => {
      const datastore = client();
      const never = () => new Promise<never>(() => undefined);
      patch(datastore, 'get', never);
      patch(datastore, 'runQuery', never);
      patch(datastore, 'save', never);
      let transactions = 0;
      patch(datastore, 'transaction', (original, ...args) => {
        const tx = original(...args) as object;
        // The first transaction hangs at its commit, the second at its begin.
        if (++transactions === 1) patch(tx, 'commit', never);
        else patch(tx, 'run', never);
        return tx;
      });
      const hung = new DatastoreEntityStore({ datastore, namespace, callTimeoutMs: 50 });
      try {
        const kind = freshKind();
        const [loaded, queried, saved, committed, begun] = await Promise.all([
          hung.load(kind.key('a')).catch((e: unknown) => e),
          hung.query(kind).catch((e: unknown) => e),
          hung.save(kind.key('a'), { n: 1 }).catch((e: unknown) => e),
          hung.transact(() => hung.save(kind.key('a'), { n: 1 })).catch((e: unknown) => e),
          hung.transact(() => hung.save(kind.key('b'), { n: 1 })).catch((e: unknown) => e),
        ]);
        for (const error of [loaded, queried, begun]) {
          expect(error).toBeInstanceOf(StoreUnavailableError);
        }
        for (const error of [saved, committed]) expect(error).toBeInstanceOf(AmbiguousCommitError);
        for (const error of [loaded, queried, saved, committed, begun]) {
          expect((error as Error).cause).toMatchObject({ code: 4, callTimeoutMs: 50 });
          expect((error as Error).message).toContain('callTimeoutMs (50 ms)');
        }
        expect((committed as AmbiguousCommitError).context).toMatchObject({ operation: 'commit' });
      } finally {
        await hung.close();
      }
    });

    it('clears its timers when calls settle in time', async () => {
      const timed = new DatastoreEntityStore({
        datastore: client(),
        namespace,
        callTimeoutMs: 600_000,
      });
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      try {
        const k = freshKind().key('t');
        await timed.load(k); // connects first: the gRPC channel has timers of its own
        const before = timers();
        for (let i = 0; i < 30; i++) await timed.load(k);
        // 30 uncleared 10-minute timers would still be here.
        expect(timers() - before).toBeLessThan(30);
      } finally {
        await timed.close();
      }
    });

    it('close() closes the client, twice without harm; later calls fail', async () => {
      const closing = realEntityStore({ namespace });
      const k = freshKind().key('c');
      await closing.save(k, { n: 1 });
      await closing.close();
      await closing.close();
      await expect(closing.load(k)).rejects.toThrow();
    });
  });
});
