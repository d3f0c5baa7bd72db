import type { SaveEntry } from '@shardcount/storage';
import {
  type CounterData,
  type CounterShardData,
  counterKey,
  SHARD_FAST_PATH_LIMIT,
  shardKey,
  shardKeys,
} from './counter-entities.js';
import { CounterStatus, type SettableCounterStatus } from './counter-status.js';
import { CounterExistsError } from './errors/counter-exists-error.js';
import { CounterNotFoundError } from './errors/counter-not-found-error.js';
import { CounterNotMutableError } from './errors/counter-not-mutable-error.js';
import { newShards, SHARDS_CREATED_WITH_COUNTER } from './increment.js';
import { newCounterData, quoteName, type ServiceContext } from './service-context.js';

/*
 * Changes to a counter's layout and life cycle. Each is crash-safe: every transaction leaves
 * the counter in a state from which any later call (or resumeInterrupted) can finish the job,
 * and no state ever makes the total wrong.
 *
 * - Growing the shard count is immediate: new shards start empty.
 * - Shrinking N -> M marks the counter CHANGING_SHARDS (target M), then moves shards from the
 *   top down in batches: one transaction reads the batch of removed shards and the kept shards
 *   (i mod M) that receive their counts, deletes the removed ones, writes the kept ones and
 *   lowers numShards to the first removed index. So numShards always covers every shard that
 *   exists, the total never changes, and a crash between batches leaves a consistent counter
 *   whose increments (on kept shards) and decrements keep working.
 * - Reset zeroes every shard in one transaction when that fits the write limit; otherwise the
 *   counter goes RESETTING (count reads 0, changes refused) in the transaction that zeroes the
 *   first batch, and the other batches follow. Likewise a shrink's first step commits with
 *   the CHANGING_SHARDS status: an operation whose steps cannot commit at all (a limit) fails
 *   without leaving the counter in a transitional status it could never leave.
 * - Delete marks DELETING (count reads 0, changes refused), deletes the shards and the
 *   operation records in batches outside transactions, then the counter.
 * - Every transaction that moves or zeroes counts also raises the counter's layoutEpoch, so a
 *   read split over several lookups can tell that one of them fell between its lookups.
 *
 * Reset, shrink steps (and exact decrements, in decrement.ts) read many shards in ONE
 * transaction. Every entity is its own entity group, and legacy Cloud Datastore lets a
 * transaction touch at most 25 of them: there these operations fail with LimitExceededError
 * once a counter has more than 23 shards. Firestore in Datastore mode has no such limit.
 */

function notFound(name: string, operation: string): CounterNotFoundError {
  return new CounterNotFoundError(
    `Cannot ${operation} counter ${quoteName(name)}: it does not exist.`,
    {
      context: { counterName: name, operation },
    },
  );
}

/** The counter's next layout epoch; see {@link CounterData.layoutEpoch}. */
function nextEpoch(counter: CounterData): number {
  return (counter.layoutEpoch ?? 0) + 1;
}

/** The counter's next fence; see {@link CounterData.fenceEpoch}. */
function nextFence(counter: CounterData): number {
  return (counter.fenceEpoch ?? 0) + 1;
}

/** Shards stamped per fence transaction (the first one also writes the counter). */
function fenceBatch(ctx: ServiceContext): number {
  return Math.max(1, ctx.settings.maxWritesPerTransaction - 1);
}

/** Inside the current transaction: stamps the existing shards `from .. to - 1` with `fence`. */
async function stampShards(
  ctx: ServiceContext,
  name: string,
  from: number,
  to: number,
  fence: number,
): Promise<void> {
  if (to <= from) return;
  const keys = shardKeys(ctx.kinds, name, from, to);
  const loaded = await ctx.store.loadMany(keys);
  await ctx.store.saveMany(
    loaded.flatMap((shard, i) =>
      shard === undefined || shard.fence === fence
        ? []
        : [{ key: keys[i] as (typeof keys)[number], entity: { ...shard, fence } }],
    ),
  );
}

/**
 * Raises the fence: `next` (the counter after a change, saved by the caller's transaction)
 * gets the next fence, and the first batch of shards is stamped in the same transaction.
 * Returns the fence and the first shard index left to stamp; see {@link finishFence}.
 */
async function raiseFence(
  ctx: ServiceContext,
  name: string,
  current: CounterData,
  next: CounterData,
): Promise<RaisedFence> {
  const fence = nextFence(current);
  next.fenceEpoch = fence;
  const stampedTo = Math.min(current.numShards, fenceBatch(ctx));
  await stampShards(ctx, name, 0, stampedTo, fence);
  // Recorded on the counter, so an interrupted stamping can be found and finished.
  next.fenceNext = stampedTo < current.numShards ? stampedTo : undefined;
  next.fencing = stampedTo < current.numShards ? true : undefined;
  return { fence, stampedTo, numShards: current.numShards };
}

/** A raised fence: the new fence, the first shard not yet stamped, the shards to stamp. */
export interface RaisedFence {
  readonly fence: number;
  readonly stampedTo: number;
  readonly numShards: number;
}

/**
 * Stamps the shards from `from` on with `fence`, one ordered transaction per batch, after the
 * transaction that raised it, recording its progress on the counter (`fenceNext`). Increments
 * from views older than the change are refused by every stamped shard, so once this returns
 * none can land. It stops when the counter's fence has moved on (a later change stamps every
 * shard itself). If this is interrupted (a crash), shards not yet stamped accept increments
 * from older views until `resumeInterrupted` finishes it, the same change is made again, or
 * those views expire (`metadataTtlMs`).
 */
async function finishFence(
  ctx: ServiceContext,
  name: string,
  { fence, stampedTo: from, numShards }: RaisedFence,
): Promise<void> {
  if (from >= numShards) return;
  const key = counterKey(ctx.kinds, name);
  let next = from;
  for (;;) {
    const to = await ctx.run(name, 'updateCounter', async () => {
      const counter = await ctx.store.load(key);
      if (counter === undefined || (counter.fenceEpoch ?? 0) !== fence) return undefined;
      if (next >= counter.numShards) {
        // A shrink since: nothing left to stamp.
        if (counter.fenceNext !== undefined) {
          await ctx.store.save(key, { ...counter, fenceNext: undefined, fencing: undefined });
        }
        return undefined;
      }
      // One shard fewer per batch: this transaction also writes the counter (its progress).
      const end = Math.min(counter.numShards, next + Math.max(1, fenceBatch(ctx) - 1));
      await stampShards(ctx, name, next, end, fence);
      const done = end >= counter.numShards;
      await ctx.store.save(key, {
        ...counter,
        fenceNext: done ? undefined : end,
        fencing: done ? undefined : true,
      });
      return end;
    });
    if (to === undefined) return;
    next = to;
  }
}

/**
 * Finishes a fence whose stamping was interrupted (a crash between its transactions); returns
 * whether there was one.
 */
export async function finishInterruptedFence(ctx: ServiceContext, name: string): Promise<boolean> {
  const counter = await ctx.guard(
    ctx.store.transactionless(() => ctx.store.load(counterKey(ctx.kinds, name))),
  );
  if (counter?.fenceNext === undefined) return false;
  await finishFence(ctx, name, {
    fence: counter.fenceEpoch ?? 0,
    stampedTo: counter.fenceNext,
    numShards: counter.numShards,
  });
  return true;
}

/** Names of the counters whose fence is not yet stamped on every shard. */
export async function countersFencing(ctx: ServiceContext): Promise<string[]> {
  const rows = await ctx.guard(
    ctx.store.query(ctx.kinds.counter, { filters: [{ property: 'fencing', value: true }] }),
  );
  return rows.map((row) => row.entity.name);
}

/** Creates a counter; `CounterExistsError` when the name is taken. */
export async function createCounter(
  ctx: ServiceContext,
  name: string,
  numShards: number,
  description: string,
): Promise<CounterData> {
  const key = counterKey(ctx.kinds, name);
  const created = await ctx.run(name, 'createCounter', async () => {
    const existing = await ctx.store.load(key);
    if (existing !== undefined) {
      throw new CounterExistsError(
        `Cannot create counter ${quoteName(name)}: it already exists (status ${existing.status}).`,
        { context: { counterName: name, status: existing.status } },
      );
    }
    const counter = newCounterData(name, numShards, description, new Date());
    await ctx.store.save(key, counter);
    await ctx.store.saveMany(newShards(ctx, counter, -1, counter.createdAt));
    return counter;
  });
  // The other shards, in small transactions of their own (creating only missing ones), so
  // increments find every shard in place. Best effort: a missing shard is created by its
  // first increment.
  for (
    let from = SHARDS_CREATED_WITH_COUNTER;
    from < numShards;
    from += SHARDS_CREATED_WITH_COUNTER
  ) {
    const to = Math.min(numShards, from + SHARDS_CREATED_WITH_COUNTER);
    try {
      await ctx.run(name, 'createCounter', async () => {
        const keys = shardKeys(ctx.kinds, name, from, to);
        const existing = await ctx.store.loadMany([key, ...keys]);
        const counter = existing[0] as CounterData | undefined;
        if (counter?.createdAt.getTime() !== created.createdAt.getTime()) return;
        const fresh = newShards(ctx, counter, -1, counter.createdAt, from, to);
        await ctx.store.saveMany(fresh.filter((_, i) => existing[i + 1] === undefined));
      });
    } catch {
      break;
    }
  }
  await ctx.totals.invalidate(name);
  ctx.remember(created);
  return created;
}

/** The changes `updateCounter` may ask for. */
export interface CounterChanges {
  readonly numShards?: number | undefined;
  readonly description?: string | undefined;
  readonly status?: SettableCounterStatus | undefined;
}

/**
 * Applies `changes`; finishes an interrupted reset or shard change first. A status change
 * (even to the same status, which repairs an interrupted one) raises the fence and stamps
 * every shard before returning, so no increment from an older view lands afterwards; a
 * shrink asked for together with it runs after it.
 */
export async function updateCounter(
  ctx: ServiceContext,
  name: string,
  changes: CounterChanges,
): Promise<void> {
  const key = counterKey(ctx.kinds, name);
  let pending = changes;
  for (;;) {
    const wanted = pending;
    const outcome = await ctx.run(name, 'updateCounter', async () => {
      const counter = await ctx.store.load(key);
      if (counter === undefined) throw notFound(name, 'update');
      if (counter.status === CounterStatus.DELETING) {
        throw new CounterNotMutableError(
          `Cannot update counter ${quoteName(name)}: it is being deleted (status DELETING).`,
          { context: { counterName: name, status: counter.status, operation: 'updateCounter' } },
        );
      }
      if (counter.status === CounterStatus.RESETTING) return 'reset pending' as const;
      if (counter.status === CounterStatus.CHANGING_SHARDS) return 'shrink pending' as const;
      const next: CounterData = { ...counter, updatedAt: new Date() };
      if (wanted.description !== undefined) next.description = wanted.description;
      if (wanted.numShards !== undefined && wanted.numShards > counter.numShards) {
        next.numShards = wanted.numShards;
      }
      if (wanted.status !== undefined) {
        next.baseStatus = wanted.status;
        next.status = wanted.status;
        const fenced = await raiseFence(ctx, name, counter, next);
        await ctx.store.save(key, next);
        return { next, shrinking: false, fenced };
      }
      if (wanted.numShards !== undefined && wanted.numShards < counter.numShards) {
        // The first step commits with the status change: a shrink whose steps cannot commit
        // at all (e.g. too many entity groups on legacy Datastore) leaves the counter as it was.
        const stepped = await shrinkStep(ctx, name, {
          ...next,
          status: CounterStatus.CHANGING_SHARDS,
          targetNumShards: wanted.numShards,
        });
        return {
          next: stepped,
          shrinking: stepped.status === CounterStatus.CHANGING_SHARDS,
          fenced: undefined,
        };
      }
      await ctx.store.save(key, next);
      return { next, shrinking: false, fenced: undefined };
    });
    if (outcome === 'reset pending') {
      await finishReset(ctx, name);
      continue;
    }
    if (outcome === 'shrink pending') {
      await finishShardChange(ctx, name);
      continue;
    }
    ctx.remember(outcome.next);
    await ctx.totals.invalidate(name);
    if (outcome.fenced !== undefined) {
      await finishFence(ctx, name, outcome.fenced);
      if (wanted.numShards !== undefined && wanted.numShards < outcome.next.numShards) {
        pending = { numShards: wanted.numShards };
        continue;
      }
      return;
    }
    if (outcome.shrinking) await finishShardChange(ctx, name);
    return;
  }
}

/** Shards moved per shrink transaction: each moves into at most one kept shard. */
function shrinkBatch(ctx: ServiceContext): number {
  // Writes per step: the removed shards (deleted), the kept shards receiving, the counter.
  return Math.max(1, Math.min(200, Math.floor((ctx.settings.maxWritesPerTransaction - 1) / 2)));
}

/**
 * One shrink step inside the caller's transaction, on a counter in status `CHANGING_SHARDS`:
 * moves the top batch of shards into the kept ones (`i mod target`), deletes them, lowers
 * `numShards` and, after the last batch, returns to the base status. Saves and returns the
 * counter.
 */
async function shrinkStep(
  ctx: ServiceContext,
  name: string,
  counter: CounterData & { readonly targetNumShards: number },
): Promise<CounterData> {
  const now = new Date();
  const target = counter.targetNumShards;
  const from = Math.max(target, counter.numShards - shrinkBatch(ctx));
  const removed: number[] = [];
  for (let i = from; i < counter.numShards; i++) removed.push(i);
  const kept = [...new Set(removed.map((i) => i % target))];
  const loaded = await ctx.store.loadMany([
    ...removed.map((i) => shardKey(ctx.kinds, name, i)),
    ...kept.map((i) => shardKey(ctx.kinds, name, i)),
  ]);
  const keptShards = new Map<number, CounterShardData>();
  kept.forEach((index, i) => {
    const shard = loaded[removed.length + i] as CounterShardData | undefined;
    keptShards.set(
      index,
      shard ?? {
        counterName: name,
        index,
        count: 0,
        fence: counter.fenceEpoch ?? 0,
        seq: 0,
        createdAt: now,
        updatedAt: now,
      },
    );
  });
  const changed = new Set<number>();
  removed.forEach((index, i) => {
    const count = (loaded[i] as CounterShardData | undefined)?.count ?? 0;
    if (count === 0) return;
    const receiver = keptShards.get(index % target) as CounterShardData;
    keptShards.set(index % target, {
      ...receiver,
      count: receiver.count + count,
      seq: (receiver.seq ?? 0) + 1,
      updatedAt: now,
    });
    changed.add(index % target);
  });
  const saves: SaveEntry[] = [...changed].map((index) => ({
    key: shardKey(ctx.kinds, name, index),
    entity: keptShards.get(index) as CounterShardData,
  }));
  await ctx.store.deleteMany(removed.map((i) => shardKey(ctx.kinds, name, i)));
  await ctx.store.saveMany(saves);
  const finished = from === target;
  const next: CounterData = {
    ...counter,
    numShards: from,
    status: finished ? counter.baseStatus : CounterStatus.CHANGING_SHARDS,
    targetNumShards: finished ? undefined : target,
    largeTotal:
      counter.largeTotal || [...keptShards.values()].some((s) => s.count > SHARD_FAST_PATH_LIMIT),
    layoutEpoch: nextEpoch(counter),
    updatedAt: now,
  };
  await ctx.store.save(counterKey(ctx.kinds, name), next);
  return next;
}

/**
 * Finishes a shard reduction (status CHANGING_SHARDS); returns whether there was one. Safe to
 * run concurrently with itself and with increments and decrements.
 */
export async function finishShardChange(ctx: ServiceContext, name: string): Promise<boolean> {
  const key = counterKey(ctx.kinds, name);
  let worked = false;
  for (;;) {
    const step = await ctx.run(name, 'updateCounter', async () => {
      const counter = await ctx.store.load(key);
      if (
        counter === undefined ||
        counter.status !== CounterStatus.CHANGING_SHARDS ||
        counter.targetNumShards === undefined
      ) {
        return undefined;
      }
      return shrinkStep(ctx, name, { ...counter, targetNumShards: counter.targetNumShards });
    });
    if (step === undefined) break;
    worked = true;
    if (step.status !== CounterStatus.CHANGING_SHARDS) {
      ctx.remember(step);
      break;
    }
  }
  if (worked) await ctx.totals.invalidate(name);
  return worked;
}

/** Resets a counter's count to zero. */
export async function resetCounter(ctx: ServiceContext, name: string): Promise<void> {
  const key = counterKey(ctx.kinds, name);
  for (;;) {
    const outcome = await ctx.run(name, 'reset', async () => {
      const counter = await ctx.store.load(key);
      if (counter === undefined) throw notFound(name, 'reset');
      if (counter.status === CounterStatus.RESETTING) return 'more' as const;
      if (
        counter.status === CounterStatus.DELETING ||
        counter.baseStatus !== CounterStatus.AVAILABLE
      ) {
        throw new CounterNotMutableError(
          counter.status === CounterStatus.DELETING
            ? `Cannot reset counter ${quoteName(name)}: it is being deleted (status DELETING).`
            : `Cannot reset counter ${quoteName(name)}: its status is READ_ONLY_COUNT, so its count cannot change. Set its status to AVAILABLE with updateCounter() first.`,
          { context: { counterName: name, status: counter.status, operation: 'reset' } },
        );
      }
      if (counter.status === CounterStatus.CHANGING_SHARDS) return 'shrink pending' as const;
      // The first batch commits with the status change: a reset that cannot commit a batch at
      // all (e.g. too many entity groups on legacy Datastore) leaves the counter as it was.
      return resetStep(ctx, name, counter);
    });
    if (outcome === 'shrink pending') {
      await finishShardChange(ctx, name);
      continue;
    }
    await ctx.totals.invalidate(name);
    if (outcome !== 'finished') await finishReset(ctx, name);
    return;
  }
}

/**
 * One reset step inside the caller's transaction: zeroes the next batch of shards (from
 * `resetNext`, or 0 when the counter is not `RESETTING` yet) and saves the counter, `RESETTING`
 * while shards remain, back to its base status after the last batch. A counter whose shards
 * fit one batch is reset in this one transaction.
 */
async function resetStep(
  ctx: ServiceContext,
  name: string,
  counter: CounterData,
): Promise<'more' | 'finished'> {
  // Writes: up to `batch` shards and the counter.
  const batch = Math.max(1, ctx.settings.maxWritesPerTransaction - 1);
  const starting = counter.status !== CounterStatus.RESETTING;
  const from = starting ? 0 : (counter.resetNext ?? 0);
  const to = Math.min(from + batch, counter.numShards);
  const now = new Date();
  // The first step raises the fence; every step stamps the shards it zeroes, so increments
  // from views older than the reset are refused by every zeroed shard (and the ones landing
  // on a shard not yet zeroed are zeroed with it).
  const fence = starting ? nextFence(counter) : (counter.fenceEpoch ?? 0);
  const shards = await ctx.store.loadMany(shardKeys(ctx.kinds, name, from, to));
  await ctx.store.saveMany(
    shards
      .filter((s): s is CounterShardData => s !== undefined)
      .map((s) => ({
        key: shardKey(ctx.kinds, name, s.index),
        entity: {
          ...s,
          count: 0,
          fence,
          seq: s.count === 0 ? s.seq : (s.seq ?? 0) + 1,
          updatedAt: now,
        },
      })),
  );
  const finished = to >= counter.numShards;
  const statusChanges = finished !== (counter.status !== CounterStatus.RESETTING);
  await ctx.store.save(counterKey(ctx.kinds, name), {
    ...counter,
    status: finished ? counter.baseStatus : CounterStatus.RESETTING,
    resetNext: finished ? undefined : to,
    largeTotal: finished ? false : counter.largeTotal,
    // Raised on every step, even one that keeps the status, for split reads.
    layoutEpoch: nextEpoch(counter),
    fenceEpoch: fence,
    updatedAt: statusChanges ? now : counter.updatedAt,
  });
  return finished ? 'finished' : 'more';
}

/** Finishes a batched reset (status RESETTING); returns whether there was one. */
export async function finishReset(ctx: ServiceContext, name: string): Promise<boolean> {
  const key = counterKey(ctx.kinds, name);
  let worked = false;
  for (;;) {
    const step = await ctx.run(name, 'reset', async () => {
      const counter = await ctx.store.load(key);
      if (counter === undefined || counter.status !== CounterStatus.RESETTING) return 'idle';
      return resetStep(ctx, name, counter);
    });
    if (step === 'idle') break;
    worked = true;
    if (step === 'finished') break;
  }
  if (worked) await ctx.totals.invalidate(name);
  return worked;
}

/** Deletes a counter; returns whether it existed. */
export async function deleteCounter(ctx: ServiceContext, name: string): Promise<boolean> {
  const marked = await markDeleting(ctx, name);
  if (marked === undefined) return false;
  await completeDeletion(ctx, name, marked);
  return true;
}

/**
 * A counter marked `DELETING` by {@link markDeleting}: the fence raised with the mark, or
 * `already` when another call had marked it.
 */
export type DeletionMark = RaisedFence | 'already';

/**
 * The first step of a deletion: marks the counter `DELETING` (raising its fence, which the
 * first batch of shards gets in the same transaction) and removes its cached total. From here
 * on its count reads 0 and every change is refused; {@link completeDeletion} (or
 * `resumeDeletions`) does the rest. `undefined` when the counter does not exist.
 */
export async function markDeleting(
  ctx: ServiceContext,
  name: string,
): Promise<DeletionMark | undefined> {
  const key = counterKey(ctx.kinds, name);
  const marked = await ctx.run(name, 'delete', async (): Promise<DeletionMark | undefined> => {
    const counter = await ctx.store.load(key);
    if (counter === undefined) return undefined;
    if (counter.status === CounterStatus.DELETING) return 'already';
    const next: CounterData = { ...counter, status: CounterStatus.DELETING, updatedAt: new Date() };
    const fenced = await raiseFence(ctx, name, counter, next);
    await ctx.store.save(key, next);
    return fenced;
  });
  ctx.forget(name);
  await ctx.totals.invalidate(name);
  return marked;
}

/**
 * The rest of a deletion marked by {@link markDeleting}: stamps the fence on the remaining
 * shards (so no increment from an older view lands), then removes shards, operation records
 * and the counter.
 */
export async function completeDeletion(
  ctx: ServiceContext,
  name: string,
  marked: DeletionMark,
): Promise<void> {
  // Increments from older views are refused by every shard before the shards go.
  if (marked !== 'already') await finishFence(ctx, name, marked);
  await finishDeletion(ctx, name);
}

/** Operation records deleted per batch. */
const RECORD_BATCH = 500;

/**
 * Finishes a deletion (status DELETING): shards, then operation records, then the counter;
 * every step is idempotent, so a crash anywhere is finished by running it again.
 */
export async function finishDeletion(ctx: ServiceContext, name: string): Promise<boolean> {
  const key = counterKey(ctx.kinds, name);
  const counter = await ctx.guard(ctx.store.transactionless(() => ctx.store.load(key)));
  if (counter === undefined || counter.status !== CounterStatus.DELETING) return false;
  await ctx.store.transactionless(async () => {
    // Every step is idempotent and the counter stays DELETING, so stopping between steps (at
    // the operation's signal) leaves a deletion that any later call finishes.
    ctx.throwIfEnded();
    // deleteMany outside a transaction is chunked to the store's commit limit.
    await ctx.store.deleteMany(shardKeys(ctx.kinds, name, 0, counter.numShards));
    for (;;) {
      ctx.throwIfEnded();
      const records = await ctx.store.query(ctx.kinds.operation, {
        filters: [{ property: 'counterName', value: name }],
        limit: RECORD_BATCH,
      });
      if (records.length === 0) break;
      await ctx.store.deleteMany(records.map((r) => r.key));
    }
  });
  await ctx.run(name, 'delete', async () => {
    const current = await ctx.store.load(key);
    if (current?.status === CounterStatus.DELETING) await ctx.store.delete(key);
  });
  ctx.forget(name);
  await ctx.totals.invalidate(name);
  return true;
}

/** Names of the counters whose status is `status`. */
export async function countersWithStatus(
  ctx: ServiceContext,
  status: CounterStatus,
): Promise<string[]> {
  const rows = await ctx.guard(
    ctx.store.query(ctx.kinds.counter, { filters: [{ property: 'status', value: status }] }),
  );
  return rows.map((row) => row.entity.name);
}
