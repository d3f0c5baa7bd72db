import { ContentionError, type Key } from '@shardcount/storage';
import type { FillRead } from './cached-total.js';
import {
  type CounterData,
  type CounterShardData,
  counterKey,
  shardKeys,
} from './counter-entities.js';
import { CounterStatus } from './counter-status.js';
import type { Counter } from './counter-types.js';
import { quoteName, type ServiceContext, toCounter } from './service-context.js';

/** A counter and its shards as one read saw them. */
export interface CounterSnapshotRead {
  /** The counter, or `undefined` when it does not exist. */
  readonly counter: CounterData | undefined;
  /** Shards `0 .. counter.numShards - 1` (`undefined` where never written). */
  readonly shards: ReadonlyArray<CounterShardData | undefined>;
}

/** How often a split read is repeated because the layout changed under it, before giving up. */
const SPLIT_READ_ATTEMPTS = 20;

/**
 * Reads a counter and all its shards outside any transaction, in one batched lookup of the
 * counter plus the shards the hint expects. When the counter turns out to have more shards
 * than the hint said, the read is repeated with the right number.
 *
 * A counter with more shards than one lookup holds (Datastore: 999 plus the counter) is read
 * in several lookups, sent in parallel, each with the counter key. Each lookup is one read of
 * the store, but together they are not, so the result is used only when every lookup saw the
 * same counter layout (epoch, shard count, status): layout epochs only grow, so no shrink or
 * reset step committed between the lookups, and the sum is as exact as a single lookup's
 * (increments and decrements landing meanwhile are counted or not, as in any concurrent read).
 * Otherwise the read is repeated.
 *
 * @throws ContentionError when the layout changed under every one of {@link SPLIT_READ_ATTEMPTS} reads
 */
export async function readCounterAndShards(
  ctx: ServiceContext,
  name: string,
): Promise<CounterSnapshotRead> {
  let expected = ctx.view(name)?.numShards ?? ctx.settings.numInitialShards;
  for (let attempt = 1; ; attempt++) {
    const read = await ctx.guard(ctx.store.transactionless(() => readOnce(ctx, name, expected)));
    if (read === 'torn') {
      if (attempt >= SPLIT_READ_ATTEMPTS) {
        throw new ContentionError(
          `Counter ${quoteName(name)} changed its shard layout during each of ${SPLIT_READ_ATTEMPTS} reads of its ${expected} shards; try again later.`,
          { context: { counterName: name, attempts: SPLIT_READ_ATTEMPTS } },
        );
      }
      continue;
    }
    const { counter, shards } = read;
    if (counter === undefined) return { counter: undefined, shards: [] };
    rememberIfNewer(ctx, counter);
    if (counter.numShards <= expected) {
      return { counter, shards: shards.slice(0, counter.numShards) };
    }
    expected = counter.numShards;
  }
}

/**
 * The counter and shards `0 .. expected - 1`, in as few lookups as the store allows, each
 * carrying the counter key; `torn` when the lookups saw different counter layouts.
 */
async function readOnce(
  ctx: ServiceContext,
  name: string,
  expected: number,
): Promise<CounterSnapshotRead | 'torn'> {
  const perLookup = Math.max(1, ctx.store.limits.maxLookupKeys - 1);
  const lookups = Math.max(1, Math.ceil(expected / perLookup));
  // Even chunks: 1000 shards are two lookups of 500, not 999 and 1.
  const size = Math.ceil(expected / lookups);
  const key = counterKey(ctx.kinds, name);
  const parts = await Promise.all(
    Array.from({ length: lookups }, async (_, i) => {
      const from = i * size;
      const to = Math.min(expected, from + size);
      const loaded = await ctx.store.loadMany([key, ...shardKeys(ctx.kinds, name, from, to)]);
      return {
        counter: loaded[0] as CounterData | undefined,
        shards: loaded.slice(1) as Array<CounterShardData | undefined>,
      };
    }),
  );
  const first = parts[0]?.counter;
  const layout = layoutOf(first);
  if (parts.some((part) => layoutOf(part.counter) !== layout)) return 'torn';
  return { counter: first, shards: parts.flatMap((part) => part.shards) };
}

/** What must not change between the lookups of a split read. */
function layoutOf(counter: CounterData | undefined): string {
  if (counter === undefined) return 'absent';
  return JSON.stringify([
    counter.layoutEpoch ?? 0,
    counter.numShards,
    counter.status,
    counter.targetNumShards ?? null,
    counter.resetNext ?? null,
    counter.createdAt.getTime(),
  ]);
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

/**
 * Keeps a counter just read as this process's view, unless the view already has a later fence
 * (a read outside transactions may be older than what an increment saw).
 */
function rememberIfNewer(ctx: ServiceContext, counter: CounterData): void {
  const view = ctx.view(counter.name);
  if (
    view !== undefined &&
    view.counter.createdAt.getTime() === counter.createdAt.getTime() &&
    view.fence > (counter.fenceEpoch ?? 0)
  ) {
    return;
  }
  ctx.remember(counter);
}

/**
 * {@link readCounterFromStore} with what the cached total records of the read: each shard's
 * write sequence number and the layout epoch (see cached-total.ts).
 */
export async function readCounterForFill(ctx: ServiceContext, name: string): Promise<FillRead> {
  return fillReadOf(await readCounterAndShards(ctx, name));
}

/** What a fill records of one snapshot; the count reads 0 while deleting or resetting. */
export function fillReadOf({ counter, shards }: CounterSnapshotRead): FillRead {
  if (counter === undefined) return { counter: undefined, seqs: [], layoutEpoch: 0 };
  const zero =
    counter.status === CounterStatus.DELETING || counter.status === CounterStatus.RESETTING;
  return {
    counter: toCounter(counter, zero ? 0 : sumShards(shards)),
    seqs: shards.map((shard) => shard?.seq ?? 0),
    layoutEpoch: counter.layoutEpoch ?? 0,
  };
}

/**
 * {@link readCounterAndShards} for many counters at once (distinct names), in as few lookups
 * as the store allows: each counter's key and the shards this process expects it to have go
 * into ONE lookup (never split across two, so each counter is read as a single lookup reads
 * it), and the lookups, each at most `limits.maxLookupKeys` keys, are sent in parallel. A
 * counter found to have more shards than expected, or too many to share a lookup, is read
 * again on its own by {@link readCounterAndShards}. Results follow `names`.
 */
export async function readCountersAndShards(
  ctx: ServiceContext,
  names: readonly string[],
): Promise<CounterSnapshotRead[]> {
  const perLookup = Math.max(2, ctx.store.limits.maxLookupKeys);
  const results: Array<CounterSnapshotRead | undefined> = new Array(names.length);
  const alone: number[] = [];
  const lookups: Array<{ keys: Key[]; members: Array<{ at: number; expected: number }> }> = [];
  let open: (typeof lookups)[number] | undefined;
  names.forEach((name, at) => {
    const expected = ctx.view(name)?.numShards ?? ctx.settings.numInitialShards;
    const size = 1 + expected;
    if (size > perLookup) {
      alone.push(at);
      return;
    }
    if (open === undefined || open.keys.length + size > perLookup) {
      open = { keys: [], members: [] };
      lookups.push(open);
    }
    open.keys.push(counterKey(ctx.kinds, name), ...shardKeys(ctx.kinds, name, 0, expected));
    open.members.push({ at, expected });
  });
  await ctx.guard(
    ctx.store.transactionless(() =>
      Promise.all(
        lookups.map(async ({ keys, members }) => {
          const loaded = (await ctx.store.loadMany(keys)) as unknown[];
          let offset = 0;
          for (const { at, expected } of members) {
            const counter = loaded[offset] as CounterData | undefined;
            const shards = loaded.slice(offset + 1, offset + 1 + expected) as Array<
              CounterShardData | undefined
            >;
            offset += 1 + expected;
            if (counter === undefined) {
              results[at] = { counter: undefined, shards: [] };
              continue;
            }
            rememberIfNewer(ctx, counter);
            if (counter.numShards <= expected) {
              results[at] = { counter, shards: shards.slice(0, counter.numShards) };
            } else {
              alone.push(at);
            }
          }
        }),
      ),
    ),
  );
  await Promise.all(
    alone.map(async (at) => {
      results[at] = await readCounterAndShards(ctx, names[at] as string);
    }),
  );
  return results as CounterSnapshotRead[];
}
