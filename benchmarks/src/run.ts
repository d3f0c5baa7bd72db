import { randomBytes } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from './backends/backend.js';
import { createEmbeddedBackend } from './backends/embedded-backend.js';
import { type BackendKind, parseCliOptions, USAGE, UsageError } from './cli-options.js';
import type { CaseBudget } from './harness/case-result.js';
import { CaseRunner, RunInterruptedError } from './harness/case-runner.js';
import { readMachineInfo } from './harness/machine-info.js';
import { MeteredStores } from './harness/metered-stores.js';
import { ProgressLine } from './harness/progress-line.js';
import {
  type RunReport,
  renderScenarioTables,
  type ScenarioReport,
  writeReport,
} from './harness/run-report.js';
import type { Scenario } from './harness/scenario.js';
import { coreIncrementScenario } from './scenarios/core-increment.js';
import { decrementCascadeScenario } from './scenarios/decrement-cascade.js';
import { getCounterScenario } from './scenarios/get-counter.js';
import { localCacheHitScenario } from './scenarios/local-cache-hit.js';
import { mixedReadWriteScenario } from './scenarios/mixed-read-write.js';
import { pingpongIncrementScenario } from './scenarios/pingpong-increment.js';

const SCENARIOS: readonly Scenario[] = [
  coreIncrementScenario,
  getCounterScenario,
  pingpongIncrementScenario,
  localCacheHitScenario,
  decrementCascadeScenario,
  mixedReadWriteScenario,
];

/**
 * Per-case bounds. Embedded: the whole run stays well under two minutes on two cores.
 * Real: each operation is a network round trip (or several), so cases run longer.
 */
const BUDGETS: Readonly<Record<BackendKind, CaseBudget>> = {
  embedded: { maxTimeMs: 1_500, maxOps: 100_000, warmupMs: 250, warmupOps: 5_000 },
  real: { maxTimeMs: 4_000, maxOps: 50_000, warmupMs: 750, warmupOps: 2_000 },
};

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = join(packageDir, '..');
const resultsDir = join(packageDir, 'results');

function usage(): string {
  return `${USAGE}\nScenarios: ${SCENARIOS.map((scenario) => scenario.id).join(', ')}.\n`;
}

function describeError(error: unknown): string {
  return error instanceof Error
    ? (error.stack ?? `${error.name}: ${error.message}`)
    : String(error);
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseCliOptions>;
  try {
    options = parseCliOptions(process.argv.slice(2), process.env);
    const unknown = options.only.filter((id) => !SCENARIOS.some((s) => s.id === id));
    if (unknown.length > 0) {
      throw new UsageError(
        `Unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}.`,
      );
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${usage()}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(usage());
    return 0;
  }
  const scenarios = SCENARIOS.filter(
    (scenario) => options.only.length === 0 || options.only.includes(scenario.id),
  );

  const progress = new ProgressLine();
  const abort = new AbortController();
  let backend: Backend | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      // Second signal: leave now; test-services' exit hooks kill the servers this run started.
      process.exit(130);
    }
    abort.abort();
    progress.log(`${signal}: stopping after the current step (again to quit at once)…`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = performance.now();
  const reports: ScenarioReport[] = [];
  let exitCode = 0;
  try {
    progress.log(
      `shardcount benchmarks: ${options.backend} backend, ${scenarios.length} scenario(s). Progress on stderr, tables on stdout.`,
    );
    if (options.backend === 'real') {
      progress.update(`starting the Cloud Datastore emulator and ${options.cache}…`);
      // Loaded only when asked for: it pulls in the Datastore client and the service launchers.
      const { createRealBackend } = await import('./backends/real-backend.js');
      backend = await createRealBackend(options.emulatorMode, options.cache);
      progress.log(`services up: ${Object.values(backend.adapters).join('; ')}`);
    } else {
      backend = createEmbeddedBackend();
    }
    const runner = new CaseRunner(progress, BUDGETS[options.backend], abort.signal);
    const runId = randomBytes(4).toString('hex');

    for (const [index, scenario] of scenarios.entries()) {
      if (abort.signal.aborted) throw new RunInterruptedError('Interrupted.');
      runner.prefix = `[${index + 1}/${scenarios.length} ${scenario.id}]`;
      const opened: MeteredStores[] = [];
      const rows: ScenarioReport['rows'][number][] = [];
      const activeBackend = backend;
      const scenarioStarted = performance.now();
      const seconds = (): number => (performance.now() - scenarioStarted) / 1000;
      try {
        const outcome = await scenario.run({
          backend: activeBackend,
          runId,
          openStores: async () => {
            const stores = await MeteredStores.open(activeBackend);
            opened.push(stores);
            return stores;
          },
          measure: async (spec) => {
            const row = await runner.run(spec);
            rows.push(row);
            return row;
          },
          note: (text) => runner.note(text),
        });
        reports.push({
          ...scenarioHeader(scenario),
          notes: outcome.notes,
          rows: outcome.rows,
          durationSeconds: seconds(),
          error: null,
        });
      } catch (error) {
        if (error instanceof RunInterruptedError) throw error;
        exitCode = 1;
        progress.log(`${scenario.id} failed: ${describeError(error)}`);
        reports.push({
          ...scenarioHeader(scenario),
          notes: [],
          rows,
          durationSeconds: seconds(),
          error: String(error),
        });
      } finally {
        await Promise.allSettled(opened.map((stores) => stores.close()));
      }
    }

    const report: RunReport = {
      schemaVersion: 1,
      backend: options.backend,
      emulatorMode: options.backend === 'real' ? options.emulatorMode : null,
      cache: options.backend === 'real' ? options.cache : null,
      machine: readMachineInfo(repoDir),
      adapters: backend.adapters,
      budget: BUDGETS[options.backend],
      durationSeconds: (performance.now() - started) / 1000,
      partial: scenarios.length < SCENARIOS.length,
      scenarios: reports,
    };
    const written = await writeReport(resultsDir, report);
    progress.clear();
    process.stdout.write(`${renderScenarioTables(report)}\n`);
    progress.log(
      `Done in ${Math.round(report.durationSeconds)} s. Results: ${written.map((file) => relative(repoDir, file)).join(', ')}`,
    );
  } catch (error) {
    if (error instanceof RunInterruptedError) {
      progress.log('Interrupted: no results written.');
      exitCode = 130;
    } else {
      progress.log(`Benchmark run failed: ${describeError(error)}`);
      exitCode = 1;
    }
  } finally {
    if (backend !== undefined && backend.kind === 'real') {
      progress.update(`stopping the Cloud Datastore emulator and ${options.cache}…`);
    }
    await backend?.close();
    progress.clear();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return exitCode;
}

function scenarioHeader(scenario: Scenario): Pick<ScenarioReport, 'id' | 'title' | 'explanation'> {
  return { id: scenario.id, title: scenario.title, explanation: scenario.explanation };
}

// Clients that linger after close (gRPC channels, timers) must not hold the run open.
process.exit(await main());
