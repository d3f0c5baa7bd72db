import { ShardedCounterService } from '@shardcount/core';
import type { CaseResult } from '../harness/case-result.js';
import type { Scenario } from '../harness/scenario.js';

const SHARDS = 64;
const WRITERS = 64;
const READERS = 8;
/** Embedded only, as in scenario 1: each store round trip waits this long. */
const SIMULATED_ROUND_TRIP_MS = 1;

/** A case row with the figures only this scenario has. */
type MixedRow = CaseResult & {
  readonly metrics: {
    readonly cacheHitRatio: number;
    readonly writesPerSec: number;
    readonly writeFailures: number;
    readonly cachedEqualsStrongRead: boolean;
  };
};

/** Scenario: does the cached total stay a hit while writers hammer the counter? */
export const mixedReadWriteScenario: Scenario = {
  id: 'mixed-read-write',
  title: '6. getCounter while 64 writers increment the same counter',
  explanation: `${READERS} readers call \`getCounter\` on one ${SHARDS}-shard counter while ${WRITERS} writers (another service instance on the same store and cache) call \`increment\` on it for the whole case, warm-up included. The row is the readers': ops/s and p50/p99 are reads, and the label carries \`cacheHitRatio\` = cache hits ÷ reads over the case (warm-up included). After the case the writers stop and the cached total is compared with a \`skipCache\` read.`,
  async run(ctx) {
    // One store and cache for both sides (each `openStores` is a namespace of its own).
    const stores = await ctx.openStores();
    const simulated = ctx.backend.kind === 'embedded';
    if (simulated) {
      stores.store.faults.delay(SIMULATED_ROUND_TRIP_MS, {
        operations: ['lookup', 'commit', 'rollback'],
      });
    }
    const options = { cacheKeyPrefix: `bench:${ctx.runId}:`, retry: { retries: 20 } } as const;
    const reader = new ShardedCounterService({
      ...options,
      store: stores.store,
      cache: stores.cache,
    });
    const writer = new ShardedCounterService({
      ...options,
      store: stores.store,
      cache: stores.cache,
    });
    const name = `${ctx.runId}-mixed`;
    ctx.note(`creating ${name}`);
    await reader.createCounter(name, { numShards: SHARDS });

    let hits = 0;
    let reads = 0;
    reader.on('cacheHit', () => hits++);
    const cacheErrors = new Map<string, number>();
    for (const service of [reader, writer]) {
      service.on('cacheError', (e) => {
        const key = `${e.call}: ${e.error.message.slice(0, 80)}`;
        cacheErrors.set(key, (cacheErrors.get(key) ?? 0) + 1);
      });
    }
    let writing = true;
    let writes = 0;
    let writeFailures = 0;
    let firstWriteError: string | undefined;
    const writeLatencies: number[] = [];
    const writeStarted = performance.now();
    const writerLoops = Array.from({ length: WRITERS }, async () => {
      while (writing) {
        try {
          const began = performance.now();
          await writer.increment(name);
          writeLatencies.push(performance.now() - began);
          writes++;
        } catch (error) {
          writeFailures++;
          firstWriteError ??= error instanceof Error ? error.message : String(error);
        }
      }
    });
    let row: CaseResult;
    try {
      row = await ctx.measure({
        id: `mixed-w${WRITERS}-r${READERS}`,
        label: `getCounter, ${READERS} readers with ${WRITERS} writers`,
        role: 'subject',
        concurrency: READERS,
        // Readers and writers share the store and cache, so per-read round trips cannot be
        // told apart: the columns stay empty (a hit is one cache round trip, see the notes).
        meter: { read: () => ({ store: undefined, cache: undefined, retries: 0 }) },
        op: async () => {
          reads++;
          await reader.getCounter(name);
          // In process, a cache hit never leaves the microtask queue: let the writers' timers run.
          if (simulated) await new Promise((resolve) => setImmediate(resolve));
        },
      });
    } finally {
      writing = false;
      await Promise.all(writerLoops);
    }
    const writeSeconds = (performance.now() - writeStarted) / 1000;
    writeLatencies.sort((a, b) => a - b);
    const percentile = (p: number): string =>
      (
        writeLatencies[
          Math.min(writeLatencies.length - 1, Math.floor(p * writeLatencies.length))
        ] ?? 0
      ).toFixed(1);
    const cached = (await reader.getCounter(name))?.count;
    const strong = (await reader.getCounter(name, { skipCache: true }))?.count;
    const cacheHitRatio = reads === 0 ? 0 : hits / reads;
    const mixed: MixedRow = {
      ...row,
      label: `${row.label}: cacheHitRatio ${cacheHitRatio.toFixed(3)}`,
      metrics: {
        cacheHitRatio,
        writesPerSec: writes / writeSeconds,
        writeFailures,
        cachedEqualsStrongRead: cached === strong,
      },
    };
    return {
      rows: [mixed],
      notes: [
        `Writers: ${writes.toLocaleString('en-US')} increments in ${writeSeconds.toFixed(1)} s (${Math.round(writes / writeSeconds).toLocaleString('en-US')}/s; latency p50 ${percentile(0.5)} ms, p99 ${percentile(0.99)} ms), ${writeFailures} failed. Reads: ${reads.toLocaleString('en-US')}, ${hits.toLocaleString('en-US')} cache hits (cacheHitRatio ${cacheHitRatio.toFixed(3)}).`,
        ...(firstWriteError === undefined
          ? []
          : [`First failed write: ${firstWriteError.slice(0, 300)}`]),
        ...(cacheErrors.size === 0
          ? []
          : [
              `Cache errors during the case: ${[...cacheErrors].map(([what, n]) => `${n} × ${what}`).join('; ')}.`,
            ]),
        `After the case: cached total ${cached ?? 'none'}, skipCache read ${strong ?? 'none'}: ${cached === strong ? 'equal' : 'DIFFERENT'}.`,
        'A hit is one cache round trip (the counter’s entry and its lineage’s count in one multi-get). Writers keep the cached total by an atomic `incr` after their commit, so they never race each other into deleting it; a reader’s fill that raced a commit is never kept (see docs/cached-reads.md).',
        ...(simulated
          ? [
              `Embedded run: every store round trip waits ${SIMULATED_ROUND_TRIP_MS} ms, as in scenario 1, and each read yields to the event loop once (an in-process cache hit would otherwise starve the writers' timers).`,
            ]
          : []),
      ],
    };
  },
};
