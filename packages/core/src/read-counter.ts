import {
  type CounterData,
  type CounterShardData,
  counterKey,
  shardKeys,
} from './counter-entities.js';
import { CounterStatus } from './counter-status.js';
import type { Counter } from './counter-types.js';
import { type ServiceContext, toCounter } from './service-context.js';

/** A counter and its shards as one read saw them. */
export interface CounterSnapshotRead {
  /** The counter, or `undefined` when it does not exist. */
  readonly counter: CounterData | undefined;
  /** Shards `0 .. counter.numShards - 1` (`undefined` where never written). */
  readonly shards: ReadonlyArray<CounterShardData | undefined>;
}

/**
 * Reads a counter and all its shards outside any transaction, in one batched lookup of the
 * counter plus the shards the hint expects (a counter and up to `MAX_SHARDS` shards fit one
 * Datastore lookup, which reads them at one point in time). When the counter turns out to
 * have more shards than the hint said, the whole read is repeated with the right number, so
 * the result always comes from a single lookup.
 */
export async function readCounterAndShards(
  ctx: ServiceContext,
  name: string,
): Promise<CounterSnapshotRead> {
  let expected = ctx.hint(name)?.numShards ?? ctx.settings.numInitialShards;
  for (;;) {
    const keys = [counterKey(ctx.kinds, name), ...shardKeys(ctx.kinds, name, 0, expected)];
    const loaded = await ctx.store.transactionless(() => ctx.store.loadMany(keys));
    const counter = loaded[0] as CounterData | undefined;
    if (counter === undefined) return { counter: undefined, shards: [] };
    ctx.remember(counter);
    if (counter.numShards <= expected) {
      return {
        counter,
        shards: loaded.slice(1, 1 + counter.numShards) as Array<CounterShardData | undefined>,
      };
    }
    expected = counter.numShards;
  }
}

/** The sum of shard counts. */
export function sumShards(shards: ReadonlyArray<CounterShardData | undefined>): number {
  let total = 0;
  for (const shard of shards) total += shard?.count ?? 0;
  return total;
}

/** A counter with its total, read from the store; the count reads 0 while deleting or resetting. */
export async function readCounterFromStore(
  ctx: ServiceContext,
  name: string,
): Promise<Counter | undefined> {
  const { counter, shards } = await readCounterAndShards(ctx, name);
  if (counter === undefined) return undefined;
  const zero =
    counter.status === CounterStatus.DELETING || counter.status === CounterStatus.RESETTING;
  return toCounter(counter, zero ? 0 : sumShards(shards));
}
