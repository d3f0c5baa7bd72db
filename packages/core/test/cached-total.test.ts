import type { Counter } from '@shardcount/core';
import { MemoryCacheStore } from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { describe, expect, it } from 'vitest';
import { CachedTotals, type ReadOutcome } from '../src/cached-total.js';
import { CounterEvents } from '../src/counter-events.js';

/*
 * The cached-total protocol, one interleaving at a time. "Commit" is implicit: the tests
 * play the store's total by hand and call the protocol steps in the order under test.
 */

const settings = {
  keyPrefix: 'ct:',
  ttlSeconds: 60,
  leaseTtlSeconds: 5,
  timeoutMs: 500,
  casRetries: 3,
};

function counterWith(count: number): Counter {
  const at = new Date(0);
  return {
    name: 'c',
    description: '',
    numShards: 3,
    status: 'AVAILABLE',
    count,
    createdAt: at,
    updatedAt: at,
  };
}

function setup(now: () => number = Date.now) {
  const memory = new MemoryCacheStore();
  const cache = new FaultInjectingCacheStore(memory);
  const totals = new CachedTotals(cache, settings, new CounterEvents(), now);
  /** A full reader: lease, sum (the given total), fill. */
  const fillWith = async (total: number) => {
    const read = await totals.read('c');
    if (read.state === 'miss' && read.ticket)
      await totals.fill('c', read.ticket, counterWith(total));
  };
  const cached = async (): Promise<number | undefined> => {
    const read: ReadOutcome = await totals.read('c');
    return read.state === 'hit' ? read.counter?.count : undefined;
  };
  /** The cached count without side effects (a miss through `read` would place a lease). */
  const peek = async (): Promise<number | undefined> => {
    const raw = await memory.get<{ kind?: string; count?: number }>('ct:c');
    return raw?.kind === 'total' ? raw.count : undefined;
  };
  return { memory, cache, totals, fillWith, cached, peek };
}

describe('cached total protocol', () => {
  it('a writer adds its delta to the total it saw before committing', async () => {
    const { totals, fillWith, cached } = setup();
    await fillWith(5);
    const before = await totals.snapshot('c');
    // commit: the store goes 5 -> 6
    await totals.settle('c', 'increment', before, 1);
    expect(await cached()).toBe(6);
  });

  it('a fill that already includes the write is not adjusted twice (writer saw nothing)', async () => {
    const { totals, fillWith, cached, peek } = setup();
    const before = await totals.snapshot('c'); // nothing cached
    // commit: 5 -> 6; then a reader leases, sums 6 and fills before the writer's cache step
    await fillWith(6);
    expect(await peek()).toBe(6);
    await totals.settle('c', 'increment', before, 1);
    // Adjusting "whatever number is there" after the commit would give 7.
    const now = await peek();
    expect(now === undefined || now === 6).toBe(true);
    await fillWith(6);
    expect(await cached()).toBe(6);
  });

  it('a fill that already includes the write is not adjusted twice (writer saw an older fill)', async () => {
    const { memory, totals, fillWith, cached, peek } = setup();
    await fillWith(5);
    const before = await totals.snapshot('c');
    // commit: 5 -> 6; the old total is evicted and a reader refills with 6
    await memory.delete('ct:c');
    await fillWith(6);
    expect(await peek()).toBe(6);
    await totals.settle('c', 'increment', before, 1);
    const now = await peek();
    expect(now === undefined || now === 6).toBe(true);
    await fillWith(6);
    expect(await cached()).toBe(6);
  });

  it('a reader that summed before the commit cannot store its stale sum', async () => {
    const { totals, cached } = setup();
    const read = await totals.read('c'); // lease placed
    expect(read.state).toBe('miss');
    const before = await totals.snapshot('c'); // the writer sees the lease
    // the reader sums 5; commit: 5 -> 6
    await totals.settle('c', 'increment', before, 1);
    if (read.state === 'miss' && read.ticket) await totals.fill('c', read.ticket, counterWith(5));
    expect(await cached()).toBeUndefined();
  });

  it('concurrent writers on one fill both land (CAS retry within the same lineage)', async () => {
    const { totals, fillWith, cached } = setup();
    await fillWith(5);
    const b1 = await totals.snapshot('c');
    const b2 = await totals.snapshot('c');
    // both commit: 5 -> 7
    await totals.settle('c', 'increment', b1, 1);
    await totals.settle('c', 'increment', b2, 1);
    expect(await cached()).toBe(7);
    const b3 = await totals.snapshot('c');
    await totals.settle('c', 'decrement', b3, -4);
    expect(await cached()).toBe(3);
  });

  it('a lineage expires ttlSeconds after its fill, however often writers adjust it', async () => {
    let now = 1_000_000;
    const { totals, fillWith, cached } = setup(() => now);
    await fillWith(5);
    for (let i = 0; i < 2; i++) {
      now += 25_000;
      const before = await totals.snapshot('c');
      await totals.settle('c', 'increment', before, 1);
    }
    expect(await cached()).toBe(7);
    // 65 s after the fill: past its 60 s, the entry is no longer trusted...
    now += 15_000;
    expect(await cached()).toBeUndefined();
    // ...and a writer deletes it instead of adjusting it.
    const before = await totals.snapshot('c');
    await totals.settle('c', 'increment', before, 1);
    await fillWith(8);
    expect(await cached()).toBe(8);
  });

  it('a writer whose snapshot failed deletes the total after its commit', async () => {
    const { cache, totals, fillWith, cached } = setup();
    await fillWith(5);
    cache.faults.failNext(1, { operations: ['gets'] });
    const before = await totals.snapshot('c');
    expect(before.state).toBe('failed');
    await totals.settle('c', 'increment', before, 1);
    expect(await cached()).toBeUndefined();
  });

  it('when the cache is down nothing throws and reads report misses', async () => {
    const { cache, totals, fillWith } = setup();
    await fillWith(5);
    cache.faults.failAlways();
    const before = await totals.snapshot('c');
    await expect(totals.settle('c', 'increment', before, 1)).resolves.toBeUndefined();
    await expect(totals.invalidate('c')).resolves.toBeUndefined();
    expect(await totals.read('c')).toEqual({ state: 'miss', ticket: undefined });
  });
});
