import { InvalidArgumentError, type Key, OutOfRangeError } from '@shardcount/storage';
import { v4 as uuidv4 } from 'uuid';
import type { WriteSnapshot } from './cached-total.js';
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
  newCounterData,
  quoteName,
  randomIndex,
  type ServiceContext,
} from './service-context.js';

/** What an increment transaction produced. */
export interface IncrementOutcome {
  readonly operation: CounterOperation;
  /** The counter as the transaction saw (or created) it; absent only for a replay of a deleted one. */
  readonly counter: CounterData | undefined;
}

/**
 * The body of one increment transaction: ONE batched lookup of the counter, the chosen shard
 * and (with an idempotency key) the operation record, then the writes. The shard index is
 * chosen before the lookup from this process's hint of the shard count; the counter loaded in
 * the same lookup re-validates it, so a stale hint costs at most one more lookup, never a
 * wrong result. The cache step is registered to run after the commit; see
 * {@link settleAfterCommit}.
 */
export async function incrementInTransaction(
  ctx: ServiceContext,
  name: string,
  amount: number,
  idempotencyKey: string | undefined,
  before: Promise<WriteSnapshot>,
): Promise<IncrementOutcome> {
  const now = new Date();
  let index = randomIndex(ctx.hint(name)?.writable ?? ctx.settings.numInitialShards);
  const keys: Key[] = [counterKey(ctx.kinds, name), shardKey(ctx.kinds, name, index)];
  if (idempotencyKey !== undefined) keys.push(operationKey(ctx.kinds, name, idempotencyKey));
  const [foundCounter, foundShard, record] = (await ctx.store.loadMany(keys)) as [
    CounterData | undefined,
    CounterShardData | undefined,
    OperationRecord | undefined,
  ];

  if (record !== undefined) {
    assertSameOperation(record, 'INCREMENT', amount, undefined);
    await invalidateAfterReplay(ctx, name);
    return { operation: fromRecord(record), counter: foundCounter };
  }

  const created = foundCounter === undefined;
  let counter = foundCounter ?? newCounterData(name, ctx.settings.numInitialShards, '', now);
  let counterChanged = created;
  assertMutable(counter, 'increment');

  let shard = foundShard;
  const writable = writableShards(counter);
  if (index >= writable) {
    index = randomIndex(writable);
    shard = await ctx.store.load(shardKey(ctx.kinds, name, index));
  }
  const next = (shard?.count ?? 0) + amount;

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
    }
  }

  const operation: CounterOperation = {
    id: uuidv4(),
    counterName: name,
    shardIndex: index,
    type: 'INCREMENT',
    appliedAmount: amount,
    createdAt: now,
    counterCreated: created,
    replayed: false,
  };
  await ctx.store.save(shardKey(ctx.kinds, name, index), {
    counterName: name,
    index,
    count: next,
    createdAt: shard?.createdAt ?? now,
    updatedAt: now,
  });
  if (counterChanged) await ctx.store.save(counterKey(ctx.kinds, name), counter);
  if (idempotencyKey !== undefined) {
    await saveRecord(ctx, idempotencyKey, operation, amount, undefined);
  }
  await settleAfterCommit(ctx, name, 'increment', before, amount);
  return { operation, counter };
}

/**
 * Schedules the cached-total step of a change of `delta` for when its transaction commits:
 * the service's own transaction, or the caller's when the change joined it. Awaits the
 * "before" snapshot here, inside the transaction, so it is taken before the commit as the
 * cached-total protocol needs. Nothing runs if the transaction rolls back or loses a race
 * (its retry registers again), nor after an ambiguous commit, which the caller handles.
 */
export async function settleAfterCommit(
  ctx: ServiceContext,
  name: string,
  operation: CounterOperationName,
  before: Promise<WriteSnapshot>,
  delta: number,
): Promise<void> {
  const snapshot = await before;
  await ctx.store.afterCommit(() => ctx.totals.settle(name, operation, snapshot, delta));
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
    { context: { counterName: record.counterName, operationId: record.operationId } },
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
