import { type ShardcountPackageName, setOperationTracing } from '@shardcount/storage';
import { type CaseResult, type CaseSpec, compareWith } from './case-result.js';
import type { ScenarioContext } from './scenario.js';

/** Default rounds of the pair per concurrency (each round measures both, in alternating order). */
const TRACING_ROUNDS = 2;

/** The case measured with and without a package's channels. */
export interface TracingPairSpec {
  /** Whose channels are switched (`setOperationTracing(pkg, false)`). */
  readonly pkg: ShardcountPackageName;
  /** What is measured, e.g. `core increment`; the row labels add the channel state. */
  readonly subject: string;
  /** Case ids start with it. */
  readonly idPrefix: string;
  /** In-flight levels to measure at. */
  readonly concurrencies: readonly number[];
  /** Rounds per concurrency; 2 by default. Sub-microsecond cases want more against noise. */
  readonly rounds?: number;
  /** The rest of the case: operation, meter, budget. */
  readonly spec: (concurrency: number) => Pick<CaseSpec, 'op' | 'meter' | 'budget'>;
}

/**
 * A package's operation with its channels present but unsubscribed ("tracing off", the
 * default state of a process nobody instruments) against the same operation with the
 * channels switched off (`setOperationTracing(pkg, false)`), back to back, in rounds
 * alternating which goes first (so warm-up, GC and a neighbour's load fall on both). Each
 * "tracing off" row is compared with the "no channels" row of its round; the notes give the
 * median of the per-round ratios and the ratio over all rounds (target: at least 0.95).
 */
export async function measureTracingPair(
  ctx: ScenarioContext,
  pair: TracingPairSpec,
): Promise<{ rows: CaseResult[]; notes: string[] }> {
  const rows: CaseResult[] = [];
  const notes: string[] = [];
  const rounds = pair.rounds ?? TRACING_ROUNDS;
  for (const concurrency of pair.concurrencies) {
    const measure = (channels: boolean, round: number): Promise<CaseResult> => {
      setOperationTracing(pair.pkg, channels);
      return ctx
        .measure({
          ...pair.spec(concurrency),
          id: `${pair.idPrefix}-${channels ? 'tracing-off' : 'no-channels'}-c${concurrency}-r${round}`,
          label: channels
            ? `${pair.subject}, tracing off: channels present, no subscriber`
            : `${pair.subject}, no channels (setOperationTracing('${pair.pkg}', false))`,
          role: channels ? 'subject' : 'baseline',
          concurrency,
        })
        .finally(() => setOperationTracing(pair.pkg, true));
    };
    const offs: CaseResult[] = [];
    const nones: CaseResult[] = [];
    for (let round = 1; round <= rounds; round++) {
      const offFirst = round % 2 === 1;
      const first = await measure(offFirst, round);
      const second = await measure(!offFirst, round);
      const [off, none] = offFirst ? [first, second] : [second, first];
      compareWith(off, none);
      offs.push(off);
      nones.push(none);
      rows.push(first, second);
    }
    // Per-round ratios: the machine's own drift between rounds (seen: whole rounds 1.5×
    // slower on a shared 2-core machine) falls on both cases of a round, not on one side.
    const perRound = offs.map((off, i) => off.opsPerSec / nones[i]!.opsPerSec);
    const sorted = [...perRound].sort((a, b) => a - b);
    const middle = sorted.length / 2;
    const median = Number.isInteger(middle)
      ? (sorted[middle - 1]! + sorted[middle]!) / 2
      : sorted[Math.floor(middle)]!;
    const sum = (cases: CaseResult[], pick: (c: CaseResult) => number) =>
      cases.reduce((total, c) => total + pick(c), 0);
    const throughput = sum(offs, (c) => c.opsPerSec) / sum(nones, (c) => c.opsPerSec);
    notes.push(
      `${pair.subject}: tracing off ÷ no channels at ${concurrency} in flight, ${rounds} rounds: median of the per-round ratios ${median.toFixed(3)}× (rounds: ${perRound.map((r) => r.toFixed(2)).join(', ')}; over all rounds ${throughput.toFixed(3)}× in total ops/s).`,
    );
  }
  return { rows, notes };
}
