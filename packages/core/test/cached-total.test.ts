import type { Counter } from '@shardcount/core';
import { MemoryCacheStore } from '@shardcount/storage';
import { FaultInjectingCacheStore } from '@shardcount/storage/testing';
import { describe, expect, it } from 'vitest';
import {
  CachedTotals,
  type FillRead,
  type ReadOutcome,
  type WriteSummary,
} from '../src/cached-total.js';
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

/** The store, played by hand: three shards with their counts and write sequence numbers. */
class StoreModel {
  readonly shards = [0, 1, 2].map(() => ({ count: 0, seq: 0 }));
  /** Commits a write of `delta` to shard `index`; returns what its writer settles. */
  commit(index: number, delta: number): WriteSummary {
    const shard = this.shards[index] as { count: number; seq: number };
    shard.count += delta;
    shard.seq += 1;
    return { incarnation: 0, layoutEpoch: 0, writes: [{ index, seq: shard.seq, delta }] };
  }
  /** A strong read, as `getCounter` does on a miss. */
  read(): FillRead {
    const total = this.shards.reduce((sum, s) => sum + s.count, 0);
    return { counter: counterWith(total), seqs: this.shards.map((s) => s.seq), layoutEpoch: 0 };
  }
}

function setup(now: () => number = Date.now) {
  const memory = new MemoryCacheStore();
  const cache = new FaultInjectingCacheStore(memory);
  const events = new CounterEvents();
  const totals = new CachedTotals(cache, settings, events, now);
  const store = new StoreModel();
  /** A full reader: lease, strong read, fill. */
  const fill = async (read: FillRead = store.read()) => {
    const outcome = await totals.read('c');
    if (outcome.state === 'miss' && outcome.ticket) await totals.fill('c', outcome.ticket, read);
  };
  const cached = async (): Promise<number | undefined> => {
    const read: ReadOutcome = await totals.read('c');
    return read.state === 'hit' ? read.counter?.count : undefined;
  };
  /** Whether the main key holds a lineage (without placing a lease as a miss would). */
  const holdsTotal = async () => (await memory.get<{ kind?: string }>('ct:c'))?.kind === 'total';
  return { memory, cache, events, totals, store, fill, cached, holdsTotal };
}

describe('cached total protocol', () => {
  it('a writer adds its delta to the lineage that lacks it', async () => {
    const { totals, store, fill, cached } = setup();
    store.commit(0, 5);
    await fill();
    const write = store.commit(1, 1);
    expect(await totals.settle('c', 'increment', write)).toBe('done');
    expect(await cached()).toBe(6);
  });

  it('a lineage filled after the commit already holds the write: it is not added twice', async () => {
    const { totals, store, fill, cached } = setup();
    store.commit(0, 5);
    const write = store.commit(1, 1); // committed, cache step not run yet
    await fill(); // a reader sums 6
    expect(await totals.settle('c', 'increment', write)).toBe('done');
    // Adding "to whatever is there" after the commit would give 7; the lineage stays a hit.
    expect(await cached()).toBe(6);
  });

  it('an older lineage replaced by one that holds the write is not added to twice', async () => {
    const { memory, totals, store, fill, cached } = setup();
    store.commit(0, 5);
    await fill();
    const write = store.commit(1, 1);
    await totals.invalidate('c'); // e.g. a maintenance change; then a reader refills with 6
    expect(await memory.get('ct:c')).toEqual({ kind: 'vacant' });
    await fill();
    await totals.settle('c', 'increment', write);
    expect(await cached()).toBe(6);
  });

  it('a fill whose read missed the write gets it from the writer that waited for the fill', async () => {
    const { totals, store, events, cached } = setup();
    store.commit(0, 5);
    const outcome = await totals.read('c'); // lease placed
    if (outcome.state !== 'miss' || outcome.ticket === undefined) throw new Error('no lease');
    const staleRead = store.read(); // the reader sums 5...
    const write = store.commit(1, 1); // ...then the write commits
    const waits: number[] = [];
    events.on('retry', (e) => waits.push(e.attempt));
    const settling = totals.settle('c', 'increment', write); // finds the lease: waits
    await new Promise((resolve) => setTimeout(resolve, 2));
    await totals.fill('c', outcome.ticket, staleRead);
    expect(await settling).toBe('done');
    expect(waits.length).toBeGreaterThan(0);
    expect(await cached()).toBe(6);
  });

  it('a fill that never lands in time is removed: its stale sum is never kept', async () => {
    const { totals, store, cached, holdsTotal } = setup();
    store.commit(0, 5);
    const outcome = await totals.read('c');
    if (outcome.state !== 'miss' || outcome.ticket === undefined) throw new Error('no lease');
    const staleRead = store.read();
    const write = store.commit(1, 1);
    expect(await totals.settle('c', 'increment', write)).toBe('removed'); // waited, then removed
    await totals.fill('c', outcome.ticket, staleRead);
    expect(await holdsTotal()).toBe(false);
    expect(await cached()).toBeUndefined(); // a fresh lease...
  });

  it('concurrent writers never destroy the lineage: every delta lands, by atomic incr', async () => {
    const { cache, totals, store, fill, cached } = setup();
    await fill();
    cache.resetCalls();
    const writes = Array.from({ length: 60 }, (_, i) => store.commit(i % 3, 1 + (i % 4)));
    const results = await Promise.all(writes.map((w) => totals.settle('c', 'increment', w)));
    expect(results.every((r) => r === 'done')).toBe(true);
    expect(cache.calls.incr).toBe(60);
    expect(cache.calls.delete).toBe(0);
    expect(await cached()).toBe(store.read().counter?.count);
  });

  it('a decrement that reaches the cache before its increment is exact (counts are offset)', async () => {
    const { totals, store, fill, cached } = setup();
    await fill(); // 0
    const up = store.commit(0, 5);
    const down = store.commit(0, -5);
    expect(await totals.settle('c', 'decrement', down)).toBe('done');
    expect(await totals.settle('c', 'increment', up)).toBe('done');
    expect(await cached()).toBe(0);
  });

  it('a late writer of a removed lineage changes nothing: its count key went first', async () => {
    const { memory, totals, store, fill, cached } = setup();
    await fill();
    const lineage = (await memory.get<{ lineage: string }>('ct:c'))?.lineage as string;
    await totals.invalidate('c');
    expect(await memory.get(totals.countKeyOf(lineage))).toBeUndefined();
    const write = store.commit(2, 4);
    await fill(); // holds the write
    await totals.settle('c', 'increment', write);
    expect(await cached()).toBe(4);
  });

  it('a writer under another layout removes the lineage and asks for a fresh view', async () => {
    const { totals, store, fill, holdsTotal } = setup();
    await fill();
    const write = { ...store.commit(0, 1), layoutEpoch: 7 };
    expect(await totals.settle('c', 'increment', write)).toBe('stale-layout');
    expect(await holdsTotal()).toBe(false);
  });

  it('a lineage expires ttlSeconds after its fill, however often writers adjust it', async () => {
    let now = 1_000_000;
    const { totals, store, fill, cached } = setup(() => now);
    store.commit(0, 5);
    await fill();
    for (let i = 0; i < 2; i++) {
      now += 25_000;
      await totals.settle('c', 'increment', store.commit(0, 1));
    }
    expect(await cached()).toBe(7);
    // 65 s after the fill: past its 60 s, the entry is no longer trusted and is replaced.
    now += 15_000;
    expect(await cached()).toBeUndefined();
  });

  it('when the cache is down nothing throws and reads report misses', async () => {
    const { cache, totals, store, fill } = setup();
    await fill();
    cache.faults.failAlways();
    await expect(totals.settle('c', 'increment', store.commit(0, 1))).resolves.toBe('done');
    await expect(totals.invalidate('c')).resolves.toBeUndefined();
    expect(await totals.read('c')).toEqual({ state: 'miss', ticket: undefined });
  });
});
