import { diffCounts, STORE_ROUND_TRIP_CALLS, sumCounts } from './call-meter.js';
import type { CaseBudget, CaseResult, CaseSpec } from './case-result.js';
import { formatMs, formatOpsPerSec } from './format.js';
import { summarizeLatencies } from './latency-stats.js';
import { generateLoad } from './load-generator.js';
import type { ProgressLine } from './progress-line.js';

/** Thrown when the run was interrupted (Ctrl-C) while a case was running. */
export class RunInterruptedError extends Error {
  override readonly name = 'RunInterruptedError';
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${error.message}`;
  }
  return String(error);
}

/** Runs cases with a warm-up, a bounded measurement and progress reporting. */
export class CaseRunner {
  readonly #progress: ProgressLine;
  readonly #defaults: CaseBudget;
  readonly #signal: AbortSignal;
  #prefix = '';

  constructor(progress: ProgressLine, defaults: CaseBudget, signal: AbortSignal) {
    this.#progress = progress;
    this.#defaults = defaults;
    this.#signal = signal;
  }

  /** Sets what progress lines start with (the scenario being run). */
  set prefix(prefix: string) {
    this.#prefix = prefix;
  }

  /** Shows a setup step on the progress line. */
  note(text: string): void {
    this.#progress.update(`${this.#prefix} ${text}`);
  }

  /** Warms up, then measures one case, charging it the meter's calls made meanwhile. */
  async run(spec: CaseSpec): Promise<CaseResult> {
    const budget = { ...this.#defaults, ...spec.budget };
    const title = `${this.#prefix} ${spec.label} (c=${spec.concurrency})`;
    const show =
      (phase: string) =>
      (finished: number, elapsedMs: number): void => {
        this.#progress.update(
          `${title} ${phase}: ${finished.toLocaleString('en-US')} ops, ${(elapsedMs / 1000).toFixed(1)} s`,
        );
      };
    this.#progress.update(`${title} warming up`);
    await generateLoad({
      concurrency: spec.concurrency,
      maxOps: budget.warmupOps,
      maxTimeMs: budget.warmupMs,
      op: spec.op,
      onProgress: show('warming up'),
      signal: this.#signal,
    });
    if (this.#signal.aborted) throw new RunInterruptedError('Interrupted.');

    const before = spec.meter.read();
    const load = await generateLoad({
      concurrency: spec.concurrency,
      maxOps: budget.maxOps,
      maxTimeMs: budget.maxTimeMs,
      op: spec.op,
      onProgress: show('measuring'),
      signal: this.#signal,
    });
    const after = spec.meter.read();
    if (this.#signal.aborted) throw new RunInterruptedError('Interrupted.');

    const attempted = Math.max(1, load.ops + load.errors);
    const latency = summarizeLatencies(load.latenciesMs, load.ops);
    const storeCalls =
      after.store === undefined ? null : diffCounts(after.store, before.store ?? {});
    const cacheCalls =
      after.cache === undefined ? null : diffCounts(after.cache, before.cache ?? {});
    const result: CaseResult = {
      id: spec.id,
      label: spec.label,
      role: spec.role,
      concurrency: spec.concurrency,
      budget,
      ops: load.ops,
      errors: load.errors,
      elapsedMs: load.elapsedMs,
      opsPerSec: load.ops / (load.elapsedMs / 1000),
      p50Ms: latency.p50Ms,
      p99Ms: latency.p99Ms,
      meanMs: latency.meanMs,
      retriesPerOp: (after.retries - before.retries) / attempted,
      storeRoundTripsPerOp:
        storeCalls === null ? null : sumCounts(storeCalls, STORE_ROUND_TRIP_CALLS) / attempted,
      cacheRoundTripsPerOp: cacheCalls === null ? null : sumCounts(cacheCalls) / attempted,
      storeCalls,
      cacheCalls,
      firstError: load.errors > 0 ? describeError(load.firstError) : null,
      ratios: [],
    };
    const failures = load.errors > 0 ? `, ${load.errors} failed` : '';
    this.#progress.log(
      `${title}: ${formatOpsPerSec(result.opsPerSec)} ops/s, p50 ${formatMs(result.p50Ms)} ms, p99 ${formatMs(result.p99Ms)} ms${failures}`,
    );
    return result;
  }
}
