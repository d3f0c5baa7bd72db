import { ShardedCounterService } from '@shardcount/core';
import { defineKind } from '@shardcount/storage';
import { type CaseResult, compareWith } from '../harness/case-result.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { measureTracingPair } from '../harness/tracing-pair.js';

const SHARD_COUNTS = [1, 4, 16, 64] as const;
/** Concurrencies of the tracing rows (channels present without a subscriber vs no channels). */
const TRACING_CONCURRENCIES = [1, 16] as const;
/** Shards of the tracing rows' counter. */
const TRACING_SHARDS = 16;
const CONCURRENCIES = [1, 16, 64] as const;
/**
 * Embedded only: each store round trip (lookup, commit, rollback) waits this long, as a
 * network call would. In-process transactions otherwise finish within a few microtasks,
 * hardly ever overlap, and contention (the thing sharding is for) never shows.
 */
const SIMULATED_ROUND_TRIP_MS = 1;

/** The naive counter: one entity, read and rewritten in a transaction per increment. */
interface NaiveCounter {
  count: number;
}
/**
 * `count` unindexed, as on core's shards: an indexed property costs every commit index writes,
 * which would make these references slower than they need to be.
 */
const NaiveCounters = defineKind<NaiveCounter>('BenchNaiveCounter', { unindexed: ['count'] });

/**
 * One retry policy for every counter compared here (core's default): a case differs only in
 * what its transaction touches.
 */
const RETRY = { retries: 20 } as const;

/**
 * A pool of `size` keys handed out one per operation in flight: with `size` = the concurrency,
 * each operation writes an entity no other in-flight operation touches, as if each worker had
 * its own counter (the ceiling: no two transactions ever meet).
 */
function keyPool<K>(keys: readonly K[]): { take(): K; give(key: K): void } {
  const free = [...keys];
  return {
    take: () => {
      const key = free.pop();
      if (key === undefined) throw new Error('more operations in flight than keys');
      return key;
    },
    give: (key) => {
      free.push(key);
    },
  };
}

/** Scenario 1: what sharding buys under concurrent increments. */
export const coreIncrementScenario: Scenario = {
  id: 'core-increment',
  title: '1. core increment vs a single-entity transactional counter',
  explanation:
    '`ShardedCounterService.increment` on counters of 1, 4, 16 and 64 shards, with 1, 16 and 64 increments in flight (one process), against the naive counter (one entity, load + save in a transaction per increment) and the ceiling (the same transaction on one entity per operation in flight, so no two transactions ever meet) on the same store at the same concurrency. Ratios are core ops/s ÷ naive ops/s (above 1: what sharding buys once increments contend; at concurrency 1: what core costs on top, the cached-total upkeep) and core ops/s ÷ ceiling ops/s (how close core gets to transactions that never contend).',
  async run(ctx) {
    const stores = await ctx.openStores();
    const { store } = stores;
    const simulated = ctx.backend.kind === 'embedded';
    if (simulated) {
      store.faults.delay(SIMULATED_ROUND_TRIP_MS, { operations: ['lookup', 'commit', 'rollback'] });
    }
    const service = new ShardedCounterService({
      store,
      cache: stores.cache,
      cacheKeyPrefix: `bench:${ctx.runId}:`,
      retry: RETRY,
    });
    const rows: CaseResult[] = [];
    for (const concurrency of CONCURRENCIES) {
      const naiveKey = NaiveCounters.key(`${ctx.runId}-naive-c${concurrency}`);
      const naive = await ctx.measure({
        id: `naive-c${concurrency}`,
        label: 'naive single-entity counter',
        role: 'baseline',
        concurrency,
        meter: stores,
        op: () =>
          store.transactNew(
            async () => {
              const counter = await store.load(naiveKey);
              await store.save(naiveKey, { count: (counter?.count ?? 0) + 1 });
            },
            { retry: RETRY },
          ),
      });
      rows.push(naive);
      const limitKeys = Array.from({ length: concurrency }, (_, i) =>
        NaiveCounters.key(`${ctx.runId}-limit-c${concurrency}-w${i}`),
      );
      // Created before the case, as core's shards are by createCounter: both cases update.
      await store.saveMany(limitKeys.map((key) => ({ key, entity: { count: 0 } })));
      const pool = keyPool(limitKeys);
      const limit = await ctx.measure({
        id: `limit-c${concurrency}`,
        label: 'one entity per worker (the ceiling)',
        role: 'limit',
        concurrency,
        meter: stores,
        op: async () => {
          const key = pool.take();
          try {
            await store.transactNew(
              async () => {
                const counter = await store.load(key);
                await store.save(key, { count: (counter?.count ?? 0) + 1 });
              },
              { retry: RETRY },
            );
          } finally {
            pool.give(key);
          }
        },
      });
      compareWith(limit, naive);
      rows.push(limit);
      for (const shards of SHARD_COUNTS) {
        const name = `${ctx.runId}-increment-s${shards}-c${concurrency}`;
        ctx.note(`creating ${name}`);
        await service.createCounter(name, { numShards: shards });
        await service.getCounter(name); // a cached total to keep up, as in production
        const result = await ctx.measure({
          id: `core-s${shards}-c${concurrency}`,
          label: `core increment, ${shards} shard${shards === 1 ? '' : 's'}`,
          role: 'subject',
          concurrency,
          meter: stores,
          op: () => service.increment(name),
        });
        compareWith(result, naive);
        compareWith(result, limit);
        rows.push(result);
      }
    }
    const tracing = await measureTracingCost(ctx);
    rows.push(...tracing.rows);
    return {
      rows,
      notes: [
        `Tracing rows (core increment, ${TRACING_SHARDS} shards${simulated ? ', store round trips NOT delayed, so the rows compare CPU cost' : ''}): "tracing off" is the default state of a process where nobody subscribes to core's diagnostics channels (each call checks \`hasSubscribers\` and goes on); "no channels" is the same service after \`setOperationTracing('core', false)\`, which skips core's channels entirely (storage's backend-call and event channels stay: they are not core's). The two are measured back to back, four rounds in alternating order; the ratio is tracing off ÷ no channels per round, summarised by its median (target: within 5%, i.e. at least 0.95).`,
        ...tracing.notes,
        ...(simulated
          ? [
              `Embedded run: every store round trip (lookup, commit, rollback) of this scenario waits ${SIMULATED_ROUND_TRIP_MS} ms (\`FaultInjectingEntityStore.faults.delay\`), as a network call would; without it in-process transactions never overlap and contention cannot show. Cache calls are not delayed. Real Datastore round trips take longer still, and a single entity sustains far fewer writes per second: run \`--backend real\` for the emulator.`,
            ]
          : [
              'Real run, Cloud Datastore emulator in Firestore-in-Datastore mode. The emulator aborts a commit whenever another transaction that READ any of the same entities committed a write first, even an entity nobody writes; production Firestore in Datastore mode documents conflicts only on entities that were written. Measured with @google-cloud/datastore 10.1.1 directly, 64 transactions in flight, 4 s per case: one entity 122 ops/s (2.0 aborts/op); 64 shards, each transaction reading only its shard 502 ops/s (0.42); the same plus a read of one shared, never-written entity 150 ops/s (1.7, with failures); the shared entity read outside the transaction 437 ops/s (0.33); one entity per worker 1,524 ops/s (0); legacy mode 173 / 548 / 135 / 528 / 1,950. That is why core’s increment transaction reads only its shard (its counter metadata comes from a per-process view that the shard fences): on the emulator, a read of the counter entity in every increment costs what the third case shows; production documents that reads conflict only with writes to what was read, so there the difference is smaller, and the ceiling is the same transaction on entities no one shares. The emulator is a single Java process sharing this machine’s cores with the benchmark: rows compare runs, they do not size production shards.',
            ]),
        `Every counter here retries contention the same way (${RETRY.retries} retries, jittered backoff from 10 ms to 1 s); an operation that still loses is counted as failed (column "failed"), not in ops/s.`,
        'Core’s transaction is one lookup (the shard) and one commit; its cache round trips are the cached total’s upkeep after the commit: a `get` of the cached lineage and an atomic `incr` of its count (no cache call before the commit, so none can hold the transaction open). The cached total is filled before each case, so every increment keeps it up (2 cache calls).',
      ],
    };
  },
};

/**
 * Core increment with and without core's channels ({@link measureTracingPair}). Embedded: on
 * a store without simulated round trips, so the rows compare CPU cost.
 */
async function measureTracingCost(
  ctx: ScenarioContext,
): Promise<{ rows: CaseResult[]; notes: string[] }> {
  const stores = await ctx.openStores();
  const service = new ShardedCounterService({
    store: stores.store,
    cache: stores.cache,
    cacheKeyPrefix: `bench:${ctx.runId}:tracing:`,
    retry: RETRY,
  });
  for (const concurrency of TRACING_CONCURRENCIES) {
    const name = `${ctx.runId}-tracing-c${concurrency}`;
    await service.createCounter(name, { numShards: TRACING_SHARDS });
    await service.getCounter(name);
  }
  return measureTracingPair(ctx, {
    pkg: 'core',
    subject: 'core increment',
    idPrefix: 'core',
    concurrencies: TRACING_CONCURRENCIES,
    rounds: 4,
    spec: (concurrency) => ({
      meter: stores,
      op: () => service.increment(`${ctx.runId}-tracing-c${concurrency}`),
    }),
  });
}
