/**
 * A short description of any value for error messages (`the string "views"`, `number NaN`, `an array`):
 * never the whole value, never a throw. Shared by every shardcount package so messages read
 * alike.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') {
    if (value.length === 0) return 'an empty string';
    return value.length > 60
      ? `a ${value.length}-character string "${value.slice(0, 40)}..."`
      : `the string "${value}"`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`;
  }
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a Date';
  return typeof value;
}
