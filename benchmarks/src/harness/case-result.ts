import type { CallMeter } from './call-meter.js';

/**
 * What a case is to its scenario: the thing measured, the baseline it is judged against, the
 * limit no library on this path can beat, or a peer library doing the same job.
 */
export type CaseRole = 'subject' | 'baseline' | 'limit' | 'peer';

/** When a case stops: whichever bound is reached first. */
export interface CaseBudget {
  /** Measured time, in milliseconds (operations in flight still finish). */
  readonly maxTimeMs: number;
  /** Measured operations. */
  readonly maxOps: number;
  /** Warm-up time before measuring, in milliseconds (JIT, connections, first fills). */
  readonly warmupMs: number;
  /** Warm-up operations at most. */
  readonly warmupOps: number;
}

/** One case of a scenario. */
export interface CaseSpec {
  /** Unique within its scenario, stable across runs (for comparing JSON files). */
  readonly id: string;
  /** What is measured, for people. */
  readonly label: string;
  readonly role: CaseRole;
  /** Operations in flight at once. */
  readonly concurrency: number;
  /** One operation; `index` counts from 0 (warm-up and measurement each start at 0). */
  readonly op: (index: number) => unknown;
  /** Where the case's round trips and retries are read. */
  readonly meter: CallMeter;
  /** Overrides of the run's default budget. */
  readonly budget?: Partial<CaseBudget>;
}

/** A ratio of throughputs: this case's ops/s divided by the reference's. */
export interface Ratio {
  /** Label of the reference case (with its concurrency). */
  readonly against: string;
  readonly role: CaseRole;
  readonly value: number;
}

/** What one case measured. Per-operation figures are per operation attempted. */
export interface CaseResult {
  readonly id: string;
  readonly label: string;
  readonly role: CaseRole;
  readonly concurrency: number;
  /** The bounds the case ran under. */
  readonly budget: CaseBudget;
  /** Operations that succeeded. */
  readonly ops: number;
  /** Operations that failed (e.g. contention retries exhausted). */
  readonly errors: number;
  readonly elapsedMs: number;
  /** Successful operations per second. */
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** Transactions retried after contention, per operation. */
  readonly retriesPerOp: number;
  /** Entity store round trips (lookup, commit, rollback, query) per operation; null: no store. */
  readonly storeRoundTripsPerOp: number | null;
  /** Cache round trips per operation; null: no cache. */
  readonly cacheRoundTripsPerOp: number | null;
  /** Store calls during the measurement, by call (beginTransaction included). */
  readonly storeCalls: Readonly<Record<string, number>> | null;
  /** Cache calls during the measurement, by call. */
  readonly cacheCalls: Readonly<Record<string, number>> | null;
  /** Message of the first failure, when there were failures. */
  readonly firstError: string | null;
  /** Throughput ratios against the scenario's references. */
  readonly ratios: Ratio[];
}

/** Records `subject.opsPerSec / reference.opsPerSec` on `subject`. */
export function compareWith(subject: CaseResult, reference: CaseResult): void {
  subject.ratios.push({
    against: `${reference.label} (c=${reference.concurrency})`,
    role: reference.role,
    value: subject.opsPerSec / reference.opsPerSec,
  });
}
