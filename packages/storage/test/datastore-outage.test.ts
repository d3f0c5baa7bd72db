import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type DatastoreEmulator, startDatastoreEmulator } from '@shardcount/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatastoreEntityStore } from '../src/entity/datastore-entity-store.js';
import { defineKind } from '../src/entity/key.js';
import { AmbiguousCommitError, StoreUnavailableError } from '../src/errors/index.js';

// These tests stop and freeze an emulator, so they run on a PRIVATE one, never the shared one.
// The tests of this file run in order and share the emulator and the store.

/** Small enough that the failures below settle in seconds. */
const CALL_TIMEOUT_MS = 1_500;
const Item = defineKind<{ n: number }>('Item');
const namespace = `outage-${randomUUID()}`;

/** Whatever `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a result');
}

/** The gRPC status code behind a mapped error. */
function causeCode(error: unknown): unknown {
  return ((error as Error).cause as { code?: unknown } | undefined)?.code;
}

describe('DatastoreEntityStore through a Datastore outage (private emulator)', () => {
  let emulator: DatastoreEmulator | undefined;
  let restarted: DatastoreEmulator | undefined;
  let store: DatastoreEntityStore;

  beforeAll(async () => {
    emulator = await startDatastoreEmulator({ mode: 'legacy' });
    const datastore = emulator.createClient({ namespace });
    // A client's first call loads its gRPC client and connects, and a fresh emulator is
    // slow to serve its first requests (each can take over a second on a busy machine),
    // which the store's short call timeout would count: warmed up here without one.
    const warmUp = datastore.key(['Warm-up', 'x']);
    await datastore.save({ key: warmUp, data: { n: 0 } });
    await datastore.get(warmUp);
    await datastore.runQuery(datastore.createQuery('Warm-up'));
    store = new DatastoreEntityStore({
      datastore,
      callTimeoutMs: CALL_TIMEOUT_MS,
      retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5 },
    });
  });

  afterAll(async () => {
    emulator?.resume();
    await store?.close();
    await Promise.all([emulator?.stop(), restarted?.stop()]);
  });

  it('works while the emulator is up, which runs in a temporary directory of its own', async () => {
    expect(existsSync(emulator!.workDir)).toBe(true);
    expect(emulator!.workDir).not.toBe(process.cwd());
    await store.save(Item.key('a'), { n: 1 });
    expect(await store.load(Item.key('a'))).toEqual({ n: 1 });
    expect((await store.query(Item)).map((row) => row.entity)).toEqual([{ n: 1 }]);
  });

  it('a hung emulator: reads and begins fail with StoreUnavailableError, commits with AmbiguousCommitError', async () => {
    const current = emulator!;
    // A transaction that has read (so it has begun) and is about to commit when Datastore hangs.
    let attempts = 0;
    const transaction = store.transact(async () => {
      attempts += 1;
      const a = await store.load(Item.key('a'));
      await current.pause();
      await store.save(Item.key('a'), { n: (a?.n ?? 0) + 1 });
    });
    const committed = await rejection(transaction);
    // The library's own deadline cannot end this one: after a failed commit it rolls back by
    // itself with a 60 s deadline before it reports. The store's timer ends it.
    expect(committed).toBeInstanceOf(AmbiguousCommitError);
    expect(causeCode(committed)).toBe(4); // DEADLINE_EXCEEDED
    expect(attempts).toBe(1); // never retried: it may have been applied
    // Sent after pause() resolved, so the frozen emulator answers none of them.
    const [loaded, queried, saved, begun] = await Promise.all([
      rejection(store.load(Item.key('a'))),
      rejection(store.query(Item)),
      rejection(store.save(Item.key('b'), { n: 2 })),
      rejection(store.transact(() => store.save(Item.key('c'), { n: 3 }))),
    ]);
    expect(loaded).toBeInstanceOf(StoreUnavailableError);
    expect(causeCode(loaded)).toBe(4);
    expect(queried).toBeInstanceOf(StoreUnavailableError);
    expect(saved).toBeInstanceOf(AmbiguousCommitError);
    expect(begun).toBeInstanceOf(StoreUnavailableError); // the begin before the blind commit
    current.resume();
    // Thawed, it answers again; the hung commit may or may not have landed, as promised.
    expect([1, 2]).toContain((await store.load(Item.key('a')))?.n);
  });

  it('a stopped emulator: every operation settles with the error its mapping promises', async () => {
    await emulator!.stop();
    expect(existsSync(emulator!.workDir)).toBe(false);
    const [loaded, loadedMany, queried, saved, deleted, readWrite, blindWrite] = await Promise.all([
      rejection(store.load(Item.key('a'))),
      rejection(store.loadMany([Item.key('a'), Item.key('b')])),
      rejection(store.query(Item)),
      rejection(store.save(Item.key('a'), { n: 10 })),
      rejection(store.delete(Item.key('a'))),
      rejection(
        store.transact(async () => {
          const a = await store.load(Item.key('a'));
          await store.save(Item.key('a'), { n: (a?.n ?? 0) + 1 });
        }),
      ),
      rejection(store.transact(() => store.save(Item.key('d'), { n: 4 }))),
    ]);
    // Lookups and queries: the library retries UNAVAILABLE until the deadline.
    expect(loaded).toBeInstanceOf(StoreUnavailableError);
    expect(loadedMany).toBeInstanceOf(StoreUnavailableError);
    expect(queried).toBeInstanceOf(StoreUnavailableError);
    // A commit is never retried by the library; a refused connection fails it at once, and
    // UNAVAILABLE during a commit is ambiguous (in general the request may have been sent).
    expect(saved).toBeInstanceOf(AmbiguousCommitError);
    expect(deleted).toBeInstanceOf(AmbiguousCommitError);
    expect([4, 14]).toContain(causeCode(saved));
    // Transactions fail before their commit: at the read, or at the begin of a blind write.
    expect(readWrite).toBeInstanceOf(StoreUnavailableError);
    expect(blindWrite).toBeInstanceOf(StoreUnavailableError);
  });

  it('the same store works again once an emulator is back on the same port', async () => {
    const { port } = emulator!;
    restarted = await startDatastoreEmulator({ mode: 'legacy', port });
    expect(restarted.port).toBe(port);
    // The first calls may still fail while gRPC reconnects (its reconnect backoff grew while
    // the emulator was down); each one settles within the call timeout, so poll.
    let firstAnswer: unknown;
    for (let attempt = 1; attempt <= 40; attempt++) {
      try {
        firstAnswer = await store.load(Item.key('a'));
        break;
      } catch (error) {
        expect(error).toBeInstanceOf(StoreUnavailableError);
        if (attempt === 40) throw error;
      }
    }
    // The emulator keeps data in memory only: the new one starts empty.
    expect(firstAnswer).toBeUndefined();
    await store.save(Item.key('a'), { n: 1 });
    await store.transact(async () => {
      const a = await store.load(Item.key('a'));
      await store.save(Item.key('a'), { n: (a?.n ?? 0) + 1 });
    });
    expect(await store.load(Item.key('a'))).toEqual({ n: 2 });
    expect((await store.query(Item)).map((row) => row.entity)).toEqual([{ n: 2 }]);
  });
});
