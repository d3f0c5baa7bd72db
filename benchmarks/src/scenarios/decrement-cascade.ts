import { ShardedCounterService } from '@shardcount/core';
import { type CaseResult, compareWith } from '../harness/case-result.js';
import type { Scenario } from '../harness/scenario.js';

const SHARDS = 64;
/** Far more than a run can remove, so no decrement ever finds the counter empty. */
const INITIAL_COUNT = 1_000_000_000;

/** Scenario 5: what the decrement cascade costs when most shards are empty. */
export const decrementCascadeScenario: Scenario = {
  id: 'decrement-cascade',
  title: '5. decrement cascade on mostly empty shards',
  explanation: `\`decrement(name, 1)\` on a counter of ${SHARDS} shards whose whole count sits in one shard (the other ${SHARDS - 1} are empty), in the default \`upTo\` mode (a random shard first, then a batched read of all shards and the next non-empty one) and in \`exact\` mode (one transaction over the shards it needs), against the same decrement on a 1-shard counter (no cascade possible). The ratio is ops/s ÷ the 1-shard baseline's ops/s.`,
  async run(ctx) {
    const stores = await ctx.openStores();
    const service = new ShardedCounterService({
      store: stores.store,
      cache: stores.cache,
      cacheKeyPrefix: `bench:${ctx.runId}:`,
    });
    /** A counter holding INITIAL_COUNT in shard 0 only, then grown to `shards` (new shards start empty). */
    const prepare = async (name: string, shards: number): Promise<void> => {
      ctx.note(`preparing ${name}`);
      await service.createCounter(name, { numShards: 1 });
      await service.increment(name, INITIAL_COUNT);
      if (shards > 1) await service.updateCounter(name, { numShards: shards });
    };
    const single = `${ctx.runId}-decrement-s1`;
    const cascade = `${ctx.runId}-decrement-s${SHARDS}-upto`;
    const exact = `${ctx.runId}-decrement-s${SHARDS}-exact`;
    await prepare(single, 1);
    await prepare(cascade, SHARDS);
    await prepare(exact, SHARDS);

    const baseline = await ctx.measure({
      id: 'decrement-s1',
      label: 'decrement, 1 shard (no cascade)',
      role: 'baseline',
      concurrency: 1,
      meter: stores,
      op: () => service.decrement(single, 1),
    });
    const upTo = await ctx.measure({
      id: `decrement-s${SHARDS}-upto`,
      label: `decrement upTo, ${SHARDS} shards, count in 1`,
      role: 'subject',
      concurrency: 1,
      meter: stores,
      op: () => service.decrement(cascade, 1),
    });
    const all = await ctx.measure({
      id: `decrement-s${SHARDS}-exact`,
      label: `decrement exact, ${SHARDS} shards, count in 1`,
      role: 'subject',
      concurrency: 1,
      meter: stores,
      op: () => service.decrement(exact, 1, { mode: 'exact' }),
    });
    compareWith(upTo, baseline);
    compareWith(all, baseline);
    const rows: CaseResult[] = [baseline, upTo, all];
    return {
      rows,
      notes: [
        `In \`upTo\` mode the first shard tried holds the count with probability 1/${SHARDS}; otherwise the cascade reads all ${SHARDS} shards in one batched lookup and decrements the non-empty one in a second small transaction.`,
      ],
    };
  },
};
