import assert from 'node:assert/strict';
import { describe, expect, it } from 'vitest';
import {
  defineKind,
  InvalidArgumentError,
  key,
  keyId,
  MemoryEntityStore,
  unindexedPropertiesOf,
} from '../src/index.js';

interface Shard {
  counterName: string;
  count: number;
  updatedAt: Date;
  drained: Array<{ epoch: number }>;
}

describe('defineKind options: unindexed properties', () => {
  const Shards = defineKind<Shard>('OptShard', { unindexed: ['count', 'updatedAt', 'drained'] });

  it('kind-made keys equal key() keys: same keyId, deep equality, JSON, spread', () => {
    const made = Shards.key('a');
    const plain = key<Shard>('OptShard', 'a');
    expect(keyId(made)).toBe(keyId(plain));
    assert.deepEqual(made, plain);
    assert.deepStrictEqual(made, plain);
    expect(made).toStrictEqual(plain);
    expect(JSON.stringify(made)).toBe(JSON.stringify(plain));
    expect({ ...made }).toStrictEqual({ kind: 'OptShard', name: 'a' });
    expect(Object.keys(made)).toEqual(['kind', 'name']);
    expect(Object.isFrozen(made)).toBe(true);
    // Keys of another name or kind still differ.
    assert.notDeepStrictEqual(made, Shards.key('b'));
  });

  it('carries the kind options to the backend through the key only', () => {
    expect(unindexedPropertiesOf(Shards.key('a'))).toEqual(['count', 'updatedAt', 'drained']);
    expect(Shards.unindexed).toEqual(['count', 'updatedAt', 'drained']);
    expect(Object.isFrozen(Shards.unindexed)).toBe(true);
    expect(unindexedPropertiesOf(key('OptShard', 'a'))).toEqual([]);
    expect(unindexedPropertiesOf({ kind: 'OptShard', name: 'a' })).toEqual([]);
    expect(unindexedPropertiesOf(defineKind('Plain').key('a'))).toEqual([]);
    expect(unindexedPropertiesOf(defineKind('Empty', { unindexed: [] }).key('a'))).toEqual([]);
  });

  it('rejects a bad unindexed list before any key is made', () => {
    const bad: unknown[] = ['count', [''], ['a.b'], ['list[]'], [7], ['count', 'count']];
    for (const unindexed of bad) {
      expect(
        () => defineKind<Record<string, unknown>>('Bad', { unindexed } as { unindexed: string[] }),
        JSON.stringify(unindexed),
      ).toThrow(InvalidArgumentError);
    }
    expect(() => defineKind('Bad', null as unknown as object)).toThrow(InvalidArgumentError);
    // Key names are still validated.
    expect(() => Shards.key('')).toThrow(InvalidArgumentError);
    expect(() => Shards.key('__reserved__')).toThrow(InvalidArgumentError);
  });

  it('the embedded store ignores the option: loads and filters on unindexed properties as before', async () => {
    const store = new MemoryEntityStore();
    const updatedAt = new Date('2026-03-04T05:06:07.089Z');
    const entity = { counterName: 'c', count: 42, updatedAt, drained: [{ epoch: 3 }] };
    await store.save(Shards.key('s0'), entity);
    expect(await store.load(Shards.key('s0'))).toEqual(entity);
    const names = async (property: string, value: string | number) =>
      (await store.query(Shards, { filters: [{ property, value }] })).map((r) => r.key.name);
    expect(await names('count', 42)).toEqual(['s0']);
    expect(await names('counterName', 'c')).toEqual(['s0']);
    await store.close();
  });
});
