/** Operations per second, grouped by thousands, no decimals above 100. */
export function formatOpsPerSec(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value >= 100
    ? Math.round(value).toLocaleString('en-US')
    : value.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** Milliseconds with about three significant digits. */
export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/** A per-operation count: two decimals, `–` when not applicable. */
export function formatPerOp(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '–';
  return value.toFixed(2);
}

/** A throughput ratio such as `0.42×`. */
export function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 100) return `${Math.round(value)}×`;
  if (value >= 10) return `${value.toFixed(1)}×`;
  if (value >= 0.1) return `${value.toFixed(2)}×`;
  return `${value.toPrecision(2)}×`;
}
