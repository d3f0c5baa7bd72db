import {
  InvalidArgumentError,
  type Key,
  OutOfRangeError,
  type SaveEntry,
} from '@shardcount/storage';
import { v4 as uuidv4 } from 'uuid';
import type { WriteSummary } from './cached-total.js';
import {
  type CounterData,
  type CounterShardData,
  counterKey,
  type OperationRecord,
  operationKey,
  SHARD_FAST_PATH_LIMIT,
  shardKey,
  shardKeys,
  writableShards,
} from './counter-entities.js';
import type { CounterOperationName } from './counter-events.js';
import type { CounterOperation } from './counter-types.js';
import {
  assertMutable,
  type CounterView,
  newCounterData,
  quoteName,
  randomIndex,
  type ServiceContext,
} from './service-context.js';

/** What an increment transaction produced. */
export interface IncrementOutcome {
  readonly kind: 'done';
  readonly operation: CounterOperation;
  /** The counter as the transaction read or created it; absent on the fast path and replays. */
  readonly counter: CounterData | undefined;
}

/** The shard's fence differed from the view's: nothing was written; refresh the view. */
export interface StaleView {
  readonly kind: 'stale';
}

/**
 * The body of one increment transaction.
 *
 * Fast path (a cached view of the counter, `view`): ONE lookup of the chosen shard (and the
 * operation record with an idempotency key), then the writes. The counter entity is neither
 * read nor written, so increments of one counter conflict only when they pick the same shard.
 * The shard vouches for the view: it must exist and carry the view's fence (see
 * {@link CounterData.fenceEpoch}); otherwise nothing is written and `stale` is returned (a
 * changed fence), or the slow path runs in this transaction (a missing shard).
 *
 * Slow path (no view, `slow`, a missing shard, or a count near the fast-path limit): the
 * counter is read in the transaction too, created on first use, and validated as before; a
 * shard is created with the counter's fence, and one left unstamped by an interrupted fence
 * is stamped.
 *
 * The cache step is registered to run after the commit; see {@link settleAfterCommit}.
 */
export async function incrementInTransaction(
  ctx: ServiceContext,
  name: string,
  amount: number,
  idempotencyKey: string | undefined,
  view: CounterView | undefined,
  chosen: number,
  slow: boolean,
): Promise<IncrementOutcome | StaleView> {
  const now = new Date();
  let index = chosen;
  const readCounter = view === undefined || slow;
  const keys: Key[] = [shardKey(ctx.kinds, name, index)];
  if (idempotencyKey !== undefined) keys.push(operationKey(ctx.kinds, name, idempotencyKey));
  if (readCounter) keys.push(counterKey(ctx.kinds, name));
  const loaded = await ctx.store.loadMany(keys);
  let shard = loaded[0] as CounterShardData | undefined;
  const record =
    idempotencyKey === undefined ? undefined : (loaded[1] as OperationRecord | undefined);
  let foundCounter = readCounter ? (loaded[keys.length - 1] as CounterData | undefined) : undefined;

  if (record !== undefined) {
    assertSameOperation(record, 'INCREMENT', amount, undefined);
    await invalidateAfterReplay(ctx, name);
    return { kind: 'done', operation: fromRecord(record), counter: foundCounter };
  }

  if (!readCounter && view !== undefined) {
    // The view is fresh whenever it refuses (the service re-reads a refusing view first).
    assertMutable(view.counter, 'increment');
    const next = (shard?.count ?? 0) + amount;
    if (shard !== undefined && (shard.fence ?? 0) !== view.fence) return { kind: 'stale' };
    if (
      shard !== undefined &&
      index < view.writable &&
      !view.counter.largeTotal &&
      next <= SHARD_FAST_PATH_LIMIT
    ) {
      const operation = incrementOperation(name, index, amount, now, false);
      await writeShard(ctx, name, shard, index, next, shard.fence ?? 0, now);
      if (idempotencyKey !== undefined) {
        await saveRecord(ctx, idempotencyKey, operation, amount, undefined);
      }
      await settleAfterCommit(ctx, name, 'increment', {
        incarnation: view.counter.createdAt.getTime(),
        layoutEpoch: view.counter.layoutEpoch ?? 0,
        writes: [{ index, seq: (shard.seq ?? 0) + 1, delta: amount }],
      });
      return { kind: 'done', operation, counter: undefined };
    }
    // A missing shard (never written, removed by a shrink, or the counter deleted) or a count
    // near the fast-path limit: decide with the counter, read in this transaction.
    foundCounter = await ctx.store.load(counterKey(ctx.kinds, name));
  }

  const created = foundCounter === undefined;
  let counter = foundCounter ?? newCounterData(name, ctx.settings.numInitialShards, '', now);
  let counterChanged = created;
  assertMutable(counter, 'increment');

  const writable = writableShards(counter);
  if (index >= writable) {
    index = randomIndex(writable);
    shard = await ctx.store.load(shardKey(ctx.kinds, name, index));
  }
  const next = (shard?.count ?? 0) + amount;
  let fence = counter.fenceEpoch ?? 0;

  if (counter.largeTotal || next > SHARD_FAST_PATH_LIMIT) {
    // Rare slow path for enormous counts: prove the total stays a safe integer.
    const shards = await ctx.store.loadMany(shardKeys(ctx.kinds, name, 0, counter.numShards));
    let total = 0;
    let large = next > SHARD_FAST_PATH_LIMIT;
    shards.forEach((s, i) => {
      const count = s?.count ?? 0;
      total += count;
      if (i !== index && count > SHARD_FAST_PATH_LIMIT) large = true;
    });
    if (amount > Number.MAX_SAFE_INTEGER - total) {
      throw new OutOfRangeError(
        `Incrementing counter ${quoteName(name)} by ${amount} would take its total (${total}) past Number.MAX_SAFE_INTEGER (${Number.MAX_SAFE_INTEGER}); nothing was written.`,
        { context: { counterName: name, amount, total } },
      );
    }
    if (large !== counter.largeTotal) {
      counter = { ...counter, largeTotal: large };
      counterChanged = true;
      if (large) {
        // Fast-path increments elsewhere must stop: their own shard no longer proves the total.
        fence += 1;
        counter = { ...counter, fenceEpoch: fence };
        await ctx.store.saveMany(
          shards.flatMap((s, i) =>
            s === undefined || i === index
              ? []
              : [{ key: shardKey(ctx.kinds, name, i), entity: { ...s, fence } }],
          ),
        );
      }
    }
  }

  const operation = incrementOperation(name, index, amount, now, created);
  if (created && counter.numShards <= SHARDS_CREATED_WITH_COUNTER) {
    await ctx.store.saveMany(newShards(ctx, counter, index, now));
  }
  await writeShard(ctx, name, shard, index, next, fence, now);
  if (counterChanged) await ctx.store.save(counterKey(ctx.kinds, name), counter);
  if (idempotencyKey !== undefined) {
    await saveRecord(ctx, idempotencyKey, operation, amount, undefined);
  }
  await settleAfterCommit(ctx, name, 'increment', {
    incarnation: counter.createdAt.getTime(),
    layoutEpoch: counter.layoutEpoch ?? 0,
    writes: [{ index, seq: (shard?.seq ?? 0) + 1, delta: amount }],
  });
  return { kind: 'done', operation, counter };
}

/**
 * Shards a transaction that creates a counter also creates: few enough that the counter, an
 * operation record and these stay within legacy Datastore's 25 entity groups per transaction.
 */
export const SHARDS_CREATED_WITH_COUNTER = 20;

/**
 * The empty shards `from .. to - 1` of a new counter (all but `except`): with every shard in
 * place, increments never need the slow path for a missing shard. Shards not created this way
 * are created by their first increment (which reads the counter once).
 */
export function newShards(
  ctx: ServiceContext,
  counter: CounterData,
  except: number,
  now: Date,
  from = 0,
  to = Math.min(counter.numShards, SHARDS_CREATED_WITH_COUNTER),
): SaveEntry[] {
  if (to - from > ctx.settings.maxWritesPerTransaction - 2) return [];
  const entries: SaveEntry[] = [];
  for (let index = from; index < to; index++) {
    if (index === except) continue;
    entries.push({
      key: shardKey(ctx.kinds, counter.name, index),
      entity: {
        counterName: counter.name,
        index,
        count: 0,
        fence: counter.fenceEpoch ?? 0,
        seq: 0,
        createdAt: now,
        updatedAt: now,
      },
    });
  }
  return entries;
}

function incrementOperation(
  name: string,
  shardIndex: number,
  amount: number,
  now: Date,
  counterCreated: boolean,
): CounterOperation {
  return {
    id: uuidv4(),
    counterName: name,
    shardIndex,
    type: 'INCREMENT',
    appliedAmount: amount,
    createdAt: now,
    counterCreated,
    replayed: false,
  };
}

/** Saves shard `index` with its new count, the fence it vouches for, and a raised `seq`. */
async function writeShard(
  ctx: ServiceContext,
  name: string,
  shard: CounterShardData | undefined,
  index: number,
  count: number,
  fence: number,
  now: Date,
): Promise<void> {
  await ctx.store.save(shardKey(ctx.kinds, name, index), {
    counterName: name,
    index,
    count,
    fence,
    seq: (shard?.seq ?? 0) + 1,
    createdAt: shard?.createdAt ?? now,
    updatedAt: now,
  });
}

/**
 * Schedules the cached-total step of committed writes for when their transaction commits:
 * the service's own transaction, or the caller's when the change joined it. Nothing runs if
 * the transaction rolls back or loses a race (its retry registers again), nor after an
 * ambiguous commit, which the caller handles. No cache call runs before the commit, so none
 * can hold the transaction open.
 */
export async function settleAfterCommit(
  ctx: ServiceContext,
  name: string,
  operation: CounterOperationName,
  summary: WriteSummary,
): Promise<void> {
  await ctx.store.afterCommit(async () => {
    const result = await ctx.totals.settle(name, operation, summary, ctx.signal);
    if (result === 'stale-layout') ctx.forget(name);
  });
}

/**
 * A replayed operation (its idempotency key was already applied) deletes the cached total
 * after its commit: the first call may never have adjusted it (an ambiguous commit, a crash
 * before its cache step), and the replay is proof that the first commit has landed.
 */
export async function invalidateAfterReplay(ctx: ServiceContext, name: string): Promise<void> {
  await ctx.store.afterCommit(() => ctx.totals.invalidate(name));
}

/** Stores the operation record of an idempotent operation (in the current transaction). */
export async function saveRecord(
  ctx: ServiceContext,
  idempotencyKey: string,
  operation: CounterOperation,
  requestedAmount: number,
  mode: 'upTo' | 'exact' | undefined,
): Promise<void> {
  const record: OperationRecord = {
    counterName: operation.counterName,
    idempotencyKey,
    operationId: operation.id,
    type: operation.type,
    mode,
    requestedAmount,
    appliedAmount: operation.appliedAmount,
    shardIndex: operation.shardIndex,
    counterCreated: operation.counterCreated,
    createdAt: operation.createdAt,
    expiresAt: new Date(operation.createdAt.getTime() + ctx.settings.idempotencyTtlSeconds * 1000),
  };
  await ctx.store.save(operationKey(ctx.kinds, operation.counterName, idempotencyKey), record);
}

/**
 * A key names one operation: reusing it for a different one is a caller bug, reported rather
 * than silently answered with the first operation's result.
 */
export function assertSameOperation(
  record: OperationRecord,
  type: 'INCREMENT' | 'DECREMENT',
  amount: number,
  mode: 'upTo' | 'exact' | undefined,
): void {
  if (
    record.type === type &&
    record.requestedAmount === amount &&
    (record.mode ?? undefined) === mode
  ) {
    return;
  }
  const was = `${record.type}${record.mode ? ` (${record.mode})` : ''} of ${record.requestedAmount}`;
  throw new InvalidArgumentError(
    `idempotencyKey ${quoteName(record.idempotencyKey)} was already used on counter ${quoteName(record.counterName)} for a ${was}; a key names one operation, so use a new key for a different one.`,
    {
      context: {
        argument: 'options.idempotencyKey',
        counterName: record.counterName,
        operationId: record.operationId,
      },
    },
  );
}

/** The operation a record describes, marked as replayed. */
export function fromRecord(record: OperationRecord): CounterOperation {
  return {
    id: record.operationId,
    counterName: record.counterName,
    shardIndex: record.shardIndex,
    type: record.type,
    appliedAmount: record.appliedAmount,
    createdAt: record.createdAt,
    counterCreated: record.counterCreated,
    replayed: true,
  };
}
