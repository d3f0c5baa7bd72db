import { AmbiguousCommitError, type Key, LimitExceededError } from '@shardcount/storage';
import { v4 as uuidv4 } from 'uuid';
import type { ShardWrite } from './cached-total.js';
import {
  type CounterData,
  type CounterShardData,
  counterKey,
  type OperationRecord,
  operationKey,
  shardKey,
} from './counter-entities.js';
import type { CounterOperation } from './counter-types.js';
import { InsufficientCountError } from './errors/insufficient-count-error.js';
import {
  assertSameOperation,
  fromRecord,
  invalidateAfterReplay,
  saveRecord,
  settleAfterCommit,
} from './increment.js';
import { readCounterAndShards } from './read-counter.js';
import {
  assertMutable,
  isMutable,
  quoteName,
  randomIndex,
  type ServiceContext,
} from './service-context.js';

/** What a decrement produced. */
export interface DecrementOutcome {
  readonly operation: CounterOperation;
  /** Counter metadata as last seen, when it exists. */
  readonly counter: CounterData | undefined;
}

function decrementOperation(
  name: string,
  shardIndex: number,
  appliedAmount: number,
  now: Date,
): CounterOperation {
  return {
    id: uuidv4(),
    counterName: name,
    shardIndex,
    type: 'DECREMENT',
    appliedAmount,
    createdAt: now,
    counterCreated: false,
    replayed: false,
  };
}

/**
 * The default decrement: a random shard first, then the other shards in turn, each in its own
 * small transaction (counter + one shard), so it never holds more than one shard and never
 * takes a shard below zero. Shards the first read showed empty are skipped.
 *
 * If a later step fails, the shards already decremented stay decremented: a non-ambiguous
 * failure ends the cascade and the operation reports what it removed; an ambiguous commit is
 * thrown, because what it removed is then unknown (the cached total is invalidated).
 * `progress.applied` always holds what was certainly removed so far.
 */
export async function decrementCascade(
  ctx: ServiceContext,
  name: string,
  amount: number,
  progress: { applied: number },
): Promise<DecrementOutcome> {
  const now = new Date();
  const ck = counterKey(ctx.kinds, name);
  const writes: ShardWrite[] = [];
  const first = await ctx.run(name, 'decrement', async () => {
    let index = randomIndex(ctx.view(name)?.numShards ?? ctx.settings.numInitialShards);
    let [counter, shard] = await ctx.store.loadMany([
      ck,
      shardKey(ctx.kinds, name, index),
    ] as const);
    if (counter === undefined) return { counter, index, taken: undefined };
    assertMutable(counter, 'decrement');
    if (index >= counter.numShards) {
      index = randomIndex(counter.numShards);
      shard = await ctx.store.load(shardKey(ctx.kinds, name, index));
    }
    const taken = await takeFromShard(ctx, shard, amount, now);
    return { counter, index, taken };
  });
  if (first.taken !== undefined) writes.push(first.taken);
  progress.applied = first.taken === undefined ? 0 : -first.taken.delta;
  let counter = first.counter;
  const layout = counter === undefined ? '' : layoutKey(counter);
  let sameLayout = true;
  if (counter === undefined) {
    return { operation: decrementOperation(name, first.index, 0, now), counter };
  }
  ctx.remember(counter);

  // Once a step has removed something, the signal ending (abort, deadline) ends the cascade
  // with what it removed so far, like any other failure of a later step; before that, the
  // decrement fails with the signal's typed error, having removed nothing.
  if (progress.applied === 0) ctx.throwIfEnded();
  if (progress.applied < amount && !ctx.ended()) {
    let seen: Awaited<ReturnType<typeof readCounterAndShards>>;
    try {
      seen = await readCounterAndShards(ctx, name);
    } catch (error) {
      if (progress.applied === 0 || !ctx.ended()) throw error;
      seen = { counter, shards: [] };
    }
    const n = seen.shards.length;
    for (let step = 1; step < n && progress.applied < amount; step++) {
      const index = (first.index + step) % n;
      if ((seen.shards[index]?.count ?? 0) === 0) continue;
      let result: { counter: CounterData | undefined; taken: ShardWrite | undefined };
      try {
        result = await ctx.run(name, 'decrement', async () => {
          const [c, shard] = await ctx.store.loadMany([
            ck,
            shardKey(ctx.kinds, name, index),
          ] as const);
          if (c === undefined || !isMutable(c) || index >= c.numShards)
            return { counter: c, taken: undefined };
          const taken = await takeFromShard(ctx, shard, amount - progress.applied, now);
          return { counter: c, taken };
        });
      } catch (error) {
        if (error instanceof AmbiguousCommitError) throw error;
        // Stopped by its signal before removing anything: the typed error, not "removed 0".
        if (progress.applied === 0 && ctx.ended()) throw error;
        break;
      }
      if (result.taken !== undefined) {
        writes.push(result.taken);
        progress.applied -= result.taken.delta;
      }
      if (result.counter !== undefined && layoutKey(result.counter) !== layout) sameLayout = false;
      counter = result.counter;
      if (counter === undefined || !isMutable(counter)) break;
    }
  }
  // The cascade spans several transactions: its cache step follows the last one and judges
  // each shard write on its own (see cached-total.ts). A layout change between the steps
  // leaves nothing to judge by: the cached total is removed.
  if (!sameLayout) await ctx.totals.invalidate(name);
  else if (writes.length > 0 && first.counter !== undefined) {
    await ctx.totals.settle(
      name,
      'decrement',
      {
        incarnation: first.counter.createdAt.getTime(),
        layoutEpoch: first.counter.layoutEpoch ?? 0,
        writes,
      },
      ctx.signal,
    );
  }
  return { operation: decrementOperation(name, first.index, progress.applied, now), counter };
}

/** The layout a cached total is judged by: the counter's incarnation and layout epoch. */
function layoutKey(counter: CounterData): string {
  return `${counter.createdAt.getTime()}/${counter.layoutEpoch ?? 0}`;
}

/** Takes up to `want` from the shard (in the current transaction); the write, if any. */
async function takeFromShard(
  ctx: ServiceContext,
  shard: CounterShardData | undefined,
  want: number,
  now: Date,
): Promise<ShardWrite | undefined> {
  if (shard === undefined || shard.count <= 0) return undefined;
  const taken = Math.min(shard.count, want);
  const seq = (shard.seq ?? 0) + 1;
  await ctx.store.save(shardKey(ctx.kinds, shard.counterName, shard.index), {
    ...shard,
    count: shard.count - taken,
    seq,
    updatedAt: now,
  });
  return { index: shard.index, seq, delta: -taken };
}

/**
 * A decrement as ONE transaction over the shards it needs: `exact` removes exactly `amount`
 * or nothing (`InsufficientCountError`); `upTo` removes what is there, up to `amount`.
 *
 * To keep the transaction's footprint small, shards are chosen from a read outside the
 * transaction (largest counts first, so as few shards as possible are written), and only
 * those are read inside it; if they no longer hold enough, the rest are read inside too. The
 * writes are the touched shards plus the operation record: past the store's per-transaction
 * write limit (Datastore: 500) it fails with `LimitExceededError` before anything is written.
 */
export async function decrementInTransaction(
  ctx: ServiceContext,
  name: string,
  amount: number,
  mode: 'upTo' | 'exact',
  idempotencyKey: string | undefined,
): Promise<DecrementOutcome> {
  const now = new Date();
  const outside = await readCounterAndShards(ctx, name);
  const chosen: number[] = [];
  let planned = 0;
  for (const index of byCountDescending(outside.shards)) {
    if (planned >= amount) break;
    chosen.push(index);
    planned += outside.shards[index]?.count ?? 0;
  }

  const keys: Key[] = [counterKey(ctx.kinds, name)];
  if (idempotencyKey !== undefined) keys.push(operationKey(ctx.kinds, name, idempotencyKey));
  const recordAt = idempotencyKey === undefined ? -1 : 1;
  const firstShardAt = keys.length;
  for (const index of chosen) keys.push(shardKey(ctx.kinds, name, index));
  const loaded = await ctx.store.loadMany(keys);
  const counter = loaded[0] as CounterData | undefined;
  const record = recordAt < 0 ? undefined : (loaded[recordAt] as OperationRecord | undefined);
  if (record !== undefined) {
    assertSameOperation(record, 'DECREMENT', amount, mode);
    await invalidateAfterReplay(ctx, name);
    return { operation: fromRecord(record), counter };
  }

  if (counter === undefined) {
    if (mode === 'exact') throw insufficient(name, amount, 0);
    return { operation: decrementOperation(name, 0, 0, now), counter };
  }
  assertMutable(counter, 'decrement');

  const shards = new Map<number, CounterShardData | undefined>();
  chosen.forEach((index, i) => {
    if (index < counter.numShards) {
      shards.set(index, loaded[firstShardAt + i] as CounterShardData | undefined);
    }
  });
  let available = 0;
  for (const shard of shards.values()) available += shard?.count ?? 0;
  if (available < amount && shards.size < counter.numShards) {
    const rest: number[] = [];
    for (let i = 0; i < counter.numShards; i++) if (!shards.has(i)) rest.push(i);
    const more = await ctx.store.loadMany(rest.map((i) => shardKey(ctx.kinds, name, i)));
    rest.forEach((index, i) => {
      shards.set(index, more[i]);
      available += more[i]?.count ?? 0;
    });
  }
  if (mode === 'exact' && available < amount) throw insufficient(name, amount, available);

  const indexes = [...shards.keys()];
  const counts = indexes.map((i) => shards.get(i));
  const order = byCountDescending(counts).map((position) => indexes[position] as number);
  const touched: CounterShardData[] = [];
  let applied = 0;
  for (const index of order) {
    if (applied >= amount) break;
    const shard = shards.get(index);
    if (shard === undefined || shard.count <= 0) continue;
    const taken = Math.min(shard.count, amount - applied);
    applied += taken;
    touched.push({
      ...shard,
      count: shard.count - taken,
      seq: (shard.seq ?? 0) + 1,
      updatedAt: now,
    });
  }
  const writes = touched.length + (idempotencyKey === undefined ? 0 : 1);
  if (writes > ctx.settings.maxWritesPerTransaction) {
    throw new LimitExceededError(
      `Decrementing counter ${quoteName(name)} by ${amount} in one transaction needs ${writes} writes (${touched.length} shards${idempotencyKey === undefined ? '' : ' and the operation record'}), more than the ${ctx.settings.maxWritesPerTransaction} a transaction may write. Nothing was written; decrement in smaller amounts.`,
      { context: { counterName: name, amount, writes } },
    );
  }
  await ctx.store.saveMany(
    touched.map((shard) => ({ key: shardKey(ctx.kinds, name, shard.index), entity: shard })),
  );
  const operation = decrementOperation(name, touched[0]?.index ?? 0, applied, now);
  if (idempotencyKey !== undefined) {
    await saveRecord(ctx, idempotencyKey, operation, amount, mode);
  }
  await settleAfterCommit(ctx, name, 'decrement', {
    incarnation: counter.createdAt.getTime(),
    layoutEpoch: counter.layoutEpoch ?? 0,
    writes: touched.map((shard) => ({
      index: shard.index,
      seq: shard.seq ?? 0,
      delta: -((shards.get(shard.index)?.count ?? 0) - shard.count),
    })),
  });
  return { operation, counter };
}

/** Positions of non-empty shards, largest count first; ties start at a random position. */
function byCountDescending(shards: ReadonlyArray<CounterShardData | undefined>): number[] {
  const n = shards.length;
  const start = n === 0 ? 0 : randomIndex(n);
  const positions: number[] = [];
  for (let step = 0; step < n; step++) {
    const position = (start + step) % n;
    if ((shards[position]?.count ?? 0) > 0) positions.push(position);
  }
  // Array.prototype.sort is stable, so equal counts keep the random rotation.
  return positions.sort((a, b) => (shards[b]?.count ?? 0) - (shards[a]?.count ?? 0));
}

function insufficient(name: string, requested: number, available: number): InsufficientCountError {
  return new InsufficientCountError(
    `Cannot remove exactly ${requested} from counter ${quoteName(name)}: it holds ${available}. Nothing was removed.`,
    { context: { counterName: name, requested, available } },
  );
}
