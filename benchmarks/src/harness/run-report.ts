import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendKind, CacheKind, EmulatorMode } from '../cli-options.js';
import type { CaseBudget, CaseResult } from './case-result.js';
import { formatMs, formatOpsPerSec, formatPerOp, formatRatio } from './format.js';
import type { MachineInfo } from './machine-info.js';

/** One scenario's part of a run. */
export interface ScenarioReport {
  readonly id: string;
  readonly title: string;
  readonly explanation: string;
  readonly notes: readonly string[];
  readonly rows: readonly CaseResult[];
  /** Wall time of the scenario, setup included. */
  readonly durationSeconds: number;
  /** Set when the scenario threw; its rows are then whatever it measured before. */
  readonly error: string | null;
}

/** Everything a run measured, as written to `results/latest-<backend>.json`. */
export interface RunReport {
  /** Version of this file's layout. */
  readonly schemaVersion: 1;
  readonly backend: BackendKind;
  /** The Datastore emulator's mode on the real backend; null when embedded. */
  readonly emulatorMode: EmulatorMode | null;
  /** The real backend's cache (absent in runs from before it was a choice); null when embedded. */
  readonly cache?: CacheKind | null;
  readonly machine: MachineInfo;
  readonly adapters: Readonly<Record<string, string>>;
  readonly budget: CaseBudget;
  readonly durationSeconds: number;
  /** Whether `--only` left scenarios out. */
  readonly partial: boolean;
  readonly scenarios: readonly ScenarioReport[];
}

const ADAPTER_LABELS: Readonly<Record<string, string>> = {
  entityStore: 'Entity store',
  cacheStore: 'Cache',
  rawIncrement: 'Raw increment (scenario 3)',
  rawGet: 'Raw get (scenario 4)',
};

const COLUMNS = [
  'Case',
  'Conc.',
  'ops/s',
  'p50 ms',
  'p99 ms',
  'retries/op',
  'store RT/op',
  'cache RT/op',
  'failed',
  'ratio (ops/s)',
] as const;

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function ratioCell(row: CaseResult): string {
  if (row.ratios.length === 0) return row.role === 'subject' ? '–' : `*${row.role}*`;
  return row.ratios.map((ratio) => `${formatRatio(ratio.value)} ${ratio.role}`).join(', ');
}

function rowCells(row: CaseResult): string[] {
  const label = row.role === 'subject' ? row.label : `${row.label} *(${row.role})*`;
  return [
    escapeCell(label),
    String(row.concurrency),
    formatOpsPerSec(row.opsPerSec),
    formatMs(row.p50Ms),
    formatMs(row.p99Ms),
    formatPerOp(row.retriesPerOp),
    formatPerOp(row.storeRoundTripsPerOp),
    formatPerOp(row.cacheRoundTripsPerOp),
    row.errors === 0 ? '0' : row.errors.toLocaleString('en-US'),
    ratioCell(row),
  ];
}

/** The scenario tables alone, each under a heading of `headingLevel` (`##` by default). */
export function renderScenarioTables(report: RunReport, headingLevel = 2): string {
  const parts: string[] = [];
  for (const scenario of report.scenarios) {
    parts.push(`${'#'.repeat(headingLevel)} ${scenario.title}`, '', scenario.explanation, '');
    if (scenario.error !== null) parts.push(`**Failed:** ${scenario.error}`, '');
    if (scenario.rows.length > 0) {
      parts.push(`| ${COLUMNS.join(' | ')} |`);
      parts.push(`|${COLUMNS.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
      for (const row of scenario.rows) parts.push(`| ${rowCells(row).join(' | ')} |`);
      parts.push('');
    }
    const failures = scenario.rows.filter((row) => row.firstError !== null);
    const notes = [
      ...scenario.notes,
      ...failures.map(
        (row) => `First failure of “${row.label}” (c=${row.concurrency}): ${row.firstError}`,
      ),
    ];
    for (const note of notes) parts.push(`- ${note}`);
    if (notes.length > 0) parts.push('');
  }
  return parts.join('\n');
}

/** The whole Markdown file: machine details, how to read it, then the tables. */
export function renderMarkdown(report: RunReport): string {
  const { machine, budget } = report;
  const details: Array<[string, string]> = [
    ['Date', machine.date],
    ['Node', machine.node],
    ['CPU', `${machine.cpu} (${machine.cores} cores available)`],
    ['Memory', `${machine.memoryGb} GB`],
    ['OS', machine.os],
    ...(machine.commit === undefined ? [] : [['Commit', machine.commit] as [string, string]]),
    ...Object.entries(report.adapters).map(([key, value]): [string, string] => [
      ADAPTER_LABELS[key] ?? key,
      value,
    ]),
    [
      'Budget per case',
      `${budget.warmupMs} ms warm-up, then up to ${budget.maxTimeMs} ms or ${budget.maxOps.toLocaleString('en-US')} operations, unless a scenario's notes say otherwise`,
    ],
    ['Run time', `${Math.round(report.durationSeconds)} s`],
  ];
  return [
    `# shardcount benchmarks: ${reportVariant(report)} backend${report.partial ? ' (partial run)' : ''}`,
    '',
    'A regression check, not marketing: compare these figures with another run on the same machine, never across machines. Ratios are against a baseline, limit or peer measured in the same run. See `benchmarks/README.md` for how to read the columns.',
    '',
    '| | |',
    '| --- | --- |',
    ...details.map(([key, value]) => `| ${key} | ${escapeCell(value)} |`),
    '',
    renderScenarioTables(report),
  ].join('\n');
}

/** `embedded`, `real`, or `real-legacy` (the emulator in legacy Datastore mode). */
export function reportVariant(report: RunReport): string {
  const cache = report.cache === 'valkey' ? '-valkey' : '';
  return report.emulatorMode === 'legacy'
    ? `${report.backend}${cache}-legacy`
    : `${report.backend}${cache}`;
}

/** File name stem: `latest-<variant>`, with `-partial` when `--only` left scenarios out. */
function reportStem(report: RunReport): string {
  return `latest-${reportVariant(report)}${report.partial ? '-partial' : ''}`;
}

/**
 * Writes `latest-<variant>[-partial].md` and `.json` into `dir`, each atomically (temp file
 * + rename), so a partial run never replaces the last full one.
 */
export async function writeReport(dir: string, report: RunReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const stem = reportStem(report);
  const files: Array<[string, string]> = [
    [`${stem}.md`, renderMarkdown(report)],
    [`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`],
  ];
  const written: string[] = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    const temp = join(dir, `${name}.tmp.${process.pid}`);
    await writeFile(temp, content, 'utf8');
    await rename(temp, path);
    written.push(path);
  }
  return written;
}
