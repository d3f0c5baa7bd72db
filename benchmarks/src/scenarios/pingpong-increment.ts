import { PingPongCounter } from '@shardcount/pingpong';
import { type CaseResult, compareWith } from '../harness/case-result.js';
import type { Scenario } from '../harness/scenario.js';

const CONCURRENCIES = [1, 64] as const;
/**
 * Longer than the default: one memcached round trip per operation on a shared 2-core machine
 * is noisy, and the ratio is the point of this scenario.
 */
const BUDGET = { maxOps: 200_000, maxTimeMs: 6_000 };
/** Long enough that no epoch ends during the scenario (an epoch end is not what is measured). */
const INTERVAL_MS = 600_000;

/** Scenario 3: pingpong's overhead over the raw cache increment it is built on. */
export const pingpongIncrementScenario: Scenario = {
  id: 'pingpong-increment',
  title: '3. pingpong increment vs a raw cache increment',
  explanation:
    '`PingPongCounter.increment` (validation, epoch slot key, one `incr` into the active slot) against a raw increment of one key on the same cache. The raw call is the limit; the ratio (pingpong ops/s ÷ raw ops/s) is what the library keeps of it.',
  async run(ctx) {
    const stores = await ctx.openStores();
    const counter = new PingPongCounter({
      cache: stores.cache,
      store: stores.store,
      namespace: `bench-${ctx.runId}`,
      intervalMs: INTERVAL_MS,
    });
    const raw = ctx.backend.createRawIncrement(stores.cache);
    const rawMeter = {
      read: () => ({ store: undefined, cache: { increment: raw.calls }, retries: 0 }),
    };
    const rows: CaseResult[] = [];
    try {
      // A warm process: each name's one-time registration (a store write, and on the real
      // backend the Datastore client's first call) happens before measuring, not inside the
      // first case. Increments never touch the store afterwards.
      for (const concurrency of CONCURRENCIES) await counter.increment(`views-c${concurrency}`);
      await counter.flush({ names: [] });
      for (const concurrency of CONCURRENCIES) {
        const rawKey = `bench:${ctx.runId}:raw-c${concurrency}`;
        const limit = await ctx.measure({
          id: `raw-c${concurrency}`,
          label: raw.label,
          role: 'limit',
          concurrency,
          meter: rawMeter,
          budget: BUDGET,
          op: () => raw.increment(rawKey),
        });
        const name = `views-c${concurrency}`;
        const result = await ctx.measure({
          id: `pingpong-c${concurrency}`,
          label: 'pingpong increment',
          role: 'subject',
          concurrency,
          meter: stores,
          budget: BUDGET,
          op: () => counter.increment(name),
        });
        compareWith(result, limit);
        rows.push(limit, result);
      }
    } finally {
      await counter.close();
      await raw.close();
    }
    return {
      rows,
      notes: [
        ctx.backend.kind === 'embedded'
          ? 'Embedded run: there is no memcached, so the raw baseline is `MemoryCacheStore.incr` on the same cache (through the same counting wrapper); the ratio is pingpong’s own CPU cost. Run `pnpm bench -- --backend real` for raw memjs on a real memcached.'
          : `Real run: the raw baseline is ${raw.label}; pingpong goes through ${ctx.backend.adapters.cacheStore} (with a per-call timeout).`,
        'Each name is incremented once and registered (`flush({ names: [] })`) before measuring: registration is a one-time store write per name and process, off the increment path; increments never touch the store.',
      ],
    };
  },
};
