/** Summary of the latencies of one case, in milliseconds. */
export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
}

/**
 * Nearest-rank percentiles of the first `count` samples. Sorts a copy, so the caller's
 * buffer can be reused.
 */
export function summarizeLatencies(samples: Float64Array, count: number): LatencySummary {
  if (count === 0) return { p50Ms: Number.NaN, p99Ms: Number.NaN, meanMs: Number.NaN, maxMs: 0 };
  const sorted = samples.slice(0, count).sort();
  const rank = (p: number): number => sorted[Math.min(count - 1, Math.ceil(p * count) - 1)] ?? 0;
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    p50Ms: rank(0.5),
    p99Ms: rank(0.99),
    meanMs: sum / count,
    maxMs: sorted[count - 1] ?? 0,
  };
}
