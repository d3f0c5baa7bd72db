import { channel } from 'node:diagnostics_channel';
import {
  CacheUnavailableError,
  EVENTS_CHANNEL,
  InvalidArgumentError,
  MemoryCacheStore,
  type ShardcountEventMessage,
} from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { afterEach, describe, expect, test } from 'vitest';
import {
  LOCAL_CACHE_EVENT_NAMES,
  LocalCache,
  type LocalCacheEventMap,
  type LocalCacheOptions,
} from '../src/index.js';
import { fakeClock, gate, settle } from './helpers/sync.js';

type Recorded = {
  [E in keyof LocalCacheEventMap]: { event: E; payload: LocalCacheEventMap[E] };
}[keyof LocalCacheEventMap];

/** A cache over a fault-injecting memory store, with every event recorded in order. */
function recordedCache(options: Omit<LocalCacheOptions, 'cache'> = {}) {
  const tags = new FaultInjectingCacheStore(new MemoryCacheStore());
  const cache = new LocalCache<string>({ cache: tags, ...options });
  const seen: Recorded[] = [];
  for (const event of LOCAL_CACHE_EVENT_NAMES) {
    cache.on(event, (payload) => seen.push({ event, payload } as Recorded));
  }
  const of = <E extends keyof LocalCacheEventMap>(event: E): LocalCacheEventMap[E][] =>
    seen.filter((r) => r.event === event).map((r) => r.payload as LocalCacheEventMap[E]);
  return { tags, cache, seen, of };
}

const value = async (key: string): Promise<string> => `${key}-value`;

describe('LocalCache typed events', () => {
  test('hit, miss (absent, then changed after an invalidation elsewhere), load, invalidated', async () => {
    const { tags, cache, of } = recordedCache();
    const other = new LocalCache<string>({ cache: tags });
    await cache.get('k', value);
    expect(of('miss')).toEqual([{ key: 'k', reason: 'absent', joined: false }]);
    expect(of('load')).toEqual([{ keys: ['k'] }]);
    await cache.get('k', value);
    expect(of('hit')).toEqual([{ key: 'k' }]);
    await other.invalidate('k');
    await cache.get('k', value);
    expect(of('miss')[1]).toEqual({ key: 'k', reason: 'changed', joined: false });
    expect(of('load')).toHaveLength(2);
    // Only this cache's listeners see its events: the other instance invalidated.
    expect(of('invalidated')).toEqual([]);
    await cache.invalidateMany(['a', 'b', 'a']);
    expect(of('invalidated')).toEqual([{ keys: ['a', 'b'] }]);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, loads: 2 });
  });

  test('a read that joins a load in progress is a miss with joined: true', async () => {
    const { cache, of } = recordedCache();
    const held = gate<string>();
    const first = cache.get('k', () => held.promise);
    await settle();
    const second = cache.get('k', value);
    await settle();
    held.open('v');
    expect(await Promise.all([first, second])).toEqual(['v', 'v']);
    expect(of('miss')).toEqual([
      { key: 'k', reason: 'absent', joined: false },
      { key: 'k', reason: 'absent', joined: true },
    ]);
    expect(of('load')).toEqual([{ keys: ['k'] }]);
  });

  test('getMany: one load event for the batch, hits and misses per key', async () => {
    const { cache, of } = recordedCache();
    await cache.get('a', value);
    await cache.getMany(['a', 'b', 'c'], async (keys) => new Map(keys.map((k) => [k, k])));
    expect(of('hit')).toEqual([{ key: 'a' }]);
    expect(of('load')).toEqual([{ keys: ['a'] }, { keys: ['b', 'c'] }]);
    expect(of('miss').map((m) => m.key)).toEqual(['a', 'b', 'c']);
  });

  test('loadFailed carries the keys and the provider error', async () => {
    const { cache, of } = recordedCache();
    const boom = new Error('source down');
    await expect(cache.get('k', () => Promise.reject(boom))).rejects.toBe(boom);
    expect(of('loadFailed')).toEqual([{ keys: ['k'], error: boom }]);
    await expect(
      cache.getMany(['x', 'y'], () => 'not a map' as unknown as Map<string, string>),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(of('loadFailed')[1]).toMatchObject({ keys: ['x', 'y'] });
    expect(of('loadFailed')[1]?.error).toBeInstanceOf(InvalidArgumentError);
  });

  test('tagStoreError and staleServed while the tag store is down, miss reason unavailable', async () => {
    const clock = fakeClock();
    const { tags, cache, of } = recordedCache({
      onCacheUnavailable: 'serve-stale',
      graceMs: 1_000,
      now: clock.now,
    });
    await cache.get('k', value);
    tags.faults.failAlways();
    clock.advance(400);
    expect(await cache.get('k', value)).toBe('k-value');
    expect(of('staleServed')).toEqual([{ key: 'k', sinceCheckMs: 400 }]);
    expect(of('tagStoreError')).toHaveLength(1);
    expect(of('tagStoreError')[0]).toMatchObject({ operation: 'read', keys: ['k'] });
    expect(of('tagStoreError')[0]?.error).toBeInstanceOf(CacheUnavailableError);
    await cache.get('never-loaded', value);
    expect(of('miss').at(-1)).toEqual({
      key: 'never-loaded',
      reason: 'unavailable',
      joined: false,
    });
    await expect(cache.invalidateMany(['k', 'j'])).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(of('tagStoreError').at(-1)).toMatchObject({ operation: 'invalidate', keys: ['k', 'j'] });
    expect(of('invalidated')).toEqual([]);
    expect(cache.stats()).toMatchObject({ staleServed: 1, errors: 4 });
  });

  test('a listener that throws never breaks a read, a load or an invalidation', async () => {
    const tags = new MemoryCacheStore();
    const cache = new LocalCache<string>({ cache: tags });
    const calls: string[] = [];
    for (const event of LOCAL_CACHE_EVENT_NAMES) {
      cache.on(event, () => {
        calls.push(event);
        throw new Error(`listener of ${event} fails`);
      });
    }
    expect(await cache.get('k', value)).toBe('k-value');
    expect(await cache.get('k', value)).toBe('k-value');
    await cache.invalidate('k');
    await expect(cache.get('k', () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(calls).toEqual(['miss', 'load', 'hit', 'invalidated', 'miss', 'load', 'loadFailed']);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, loads: 2 });
  });

  test('off() removes a listener; on() refuses unknown events and non-functions', async () => {
    const cache = new LocalCache<string>({ cache: new MemoryCacheStore() });
    const hits: string[] = [];
    const off = cache.on('hit', ({ key }) => hits.push(key));
    await cache.get('k', value);
    await cache.get('k', value);
    off();
    off();
    await cache.get('k', value);
    expect(hits).toEqual(['k']);
    expect(() => cache.on('nope' as 'hit', () => {})).toThrow(InvalidArgumentError);
    expect(() => cache.on('hit', 'x' as unknown as () => void)).toThrow(InvalidArgumentError);
  });
});

describe('LocalCache events on the shardcount:events channel', () => {
  const received: ShardcountEventMessage[] = [];
  const listener = (message: unknown): void => {
    const event = message as ShardcountEventMessage;
    if (event.package === 'local-cache') received.push(event);
  };
  afterEach(() => {
    channel(EVENTS_CHANNEL).unsubscribe(listener);
    received.length = 0;
  });

  test('every event is published with its subject and count, with no listener on the cache', async () => {
    channel(EVENTS_CHANNEL).subscribe(listener);
    const cache = new LocalCache<string>({ cache: new MemoryCacheStore() });
    await cache.get('k', value);
    await cache.get('k', value);
    await cache.invalidateMany(['k', 'j']);
    expect(received.map(({ event, subject, count }) => ({ event, subject, count }))).toEqual([
      { event: 'miss', subject: 'k', count: 1 },
      { event: 'load', subject: undefined, count: 1 },
      { event: 'hit', subject: 'k', count: 1 },
      { event: 'invalidated', subject: undefined, count: 2 },
    ]);
  });
});
