import { InvalidArgumentError, MemoryCacheStore } from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { describe, expect, test } from 'vitest';
import { LocalCache, type LocalCacheOptions, MAX_LOCAL_ENTRIES } from '../src/index.js';

describe('LocalCache arguments are checked before any I/O', () => {
  const cache = new MemoryCacheStore();

  test.each<[string, Partial<LocalCacheOptions>]>([
    ['maxEntries 0', { maxEntries: 0 }],
    ['maxEntries 1.5', { maxEntries: 1.5 }],
    ['ttlMs 0', { ttlMs: 0 }],
    ['ttlMs negative', { ttlMs: -1 }],
    ['maxStalenessMs negative', { maxStalenessMs: -1 }],
    ['maxStalenessMs NaN', { maxStalenessMs: Number.NaN }],
    ['versionTtlSeconds fractional', { versionTtlSeconds: 0.5 }],
    ['graceMs infinite', { graceMs: Number.POSITIVE_INFINITY }],
    ['empty namespace', { namespace: '' }],
    ['unknown policy', { onCacheUnavailable: 'ignore' as never }],
    // lru-cache would throw its own RangeError (or allocate until the process dies).
    ['maxEntries MAX_SAFE_INTEGER', { maxEntries: Number.MAX_SAFE_INTEGER }],
    ['maxEntries past MAX_LOCAL_ENTRIES', { maxEntries: MAX_LOCAL_ENTRIES + 1 }],
    ['a misspelt option', { ttl: 1000 } as never],
    // null is a value, not "absent": only undefined takes the default.
    ['maxEntries null', { maxEntries: null as never }],
    ['namespace null', { namespace: null as never }],
    ['graceMs null', { graceMs: null as never }],
    ['now not a function', { now: 5 as never }],
    ['a cache without add', { cache: { get() {}, getMany() {}, set() {} } as never }],
  ])('rejects %s', (_, options) => {
    expect(() => new LocalCache({ cache, ...options })).toThrow(InvalidArgumentError);
  });

  test('rejects options that are not an object, naming them', () => {
    for (const options of [undefined, null, 'cache', []]) {
      expect(() => new LocalCache(options as never)).toThrow(
        expect.objectContaining({ context: { argument: 'options' } }),
      );
    }
  });

  test('rejects a missing cache', () => {
    expect(() => new LocalCache({} as LocalCacheOptions)).toThrow(InvalidArgumentError);
  });

  test('rejects bad keys and providers without touching the store', async () => {
    const store = new FaultInjectingCacheStore(new MemoryCacheStore());
    const local = new LocalCache<string>({ cache: store });
    const provider = async () => 'v';
    await expect(local.get('', provider)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(local.get(42 as unknown as string, provider)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(local.get('k', 'v' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(local.getMany(['a', ''], async () => new Map())).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(local.getMany('a' as never, async () => new Map())).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(local.invalidate('')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(local.invalidateMany(['ok', ''])).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => local.peek('')).toThrow(InvalidArgumentError);
    expect(() => local.delete('')).toThrow(InvalidArgumentError);
    expect(Object.values(store.calls).every((count) => count === 0)).toBe(true);
  });

  test('empty batches make no round trip', async () => {
    const store = new FaultInjectingCacheStore(new MemoryCacheStore());
    const local = new LocalCache<string>({ cache: store });
    expect(await local.getMany([], async () => new Map())).toEqual(new Map());
    await local.invalidateMany([]);
    expect(Object.values(store.calls).every((count) => count === 0)).toBe(true);
    expect(local.stats()).toEqual({
      hits: 0,
      misses: 0,
      loads: 0,
      staleServed: 0,
      versionChecks: 0,
      errors: 0,
    });
  });

  test('tags live at <namespace>:v:<key> with versionTtlSeconds', async () => {
    let now = 0;
    const store = new MemoryCacheStore({ now: () => now });
    const local = new LocalCache<string>({
      cache: store,
      namespace: 'users',
      versionTtlSeconds: 30,
    });
    await local.get('42', async () => 'alice');
    const tag = await store.get('users:v:42');
    expect(local.peek('42')?.tag).toBe(tag);
    now += 30_000;
    expect(await store.get('users:v:42')).toBeUndefined();
  });
});
