import type { Backend } from '../backends/backend.js';
import type { CaseResult, CaseSpec } from './case-result.js';
import type { MeteredStores } from './metered-stores.js';

/** What a scenario gets from the runner. */
export interface ScenarioContext {
  readonly backend: Backend;
  /** Short random id of this run: prefix counter names and cache keys with it. */
  readonly runId: string;
  /** A fresh metered store and cache; the runner closes them after the scenario. */
  openStores(): Promise<MeteredStores>;
  /** Warms up and measures one case. */
  measure(spec: CaseSpec): Promise<CaseResult>;
  /** Shows a setup step on the progress line. */
  note(text: string): void;
}

/** What a scenario reports. */
export interface ScenarioOutcome {
  /** Every case measured, subjects with their ratios filled in. */
  readonly rows: readonly CaseResult[];
  /** Facts a reader needs to interpret the rows (written under the table). */
  readonly notes: readonly string[];
}

/** One benchmark scenario: a subject and the baseline or peer it is compared with. */
export interface Scenario {
  /** Stable id, used by `--only` and in the JSON. */
  readonly id: string;
  readonly title: string;
  /** What the scenario measures and what its ratio means. */
  readonly explanation: string;
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}
