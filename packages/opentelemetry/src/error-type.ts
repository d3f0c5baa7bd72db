/**
 * OpenTelemetry's `error.type` for a failure: a shardcount error's stable `code` (e.g.
 * `CONTENTION`, `CACHE_UNAVAILABLE`), else the error class's name, else `_OTHER` as the
 * semantic conventions ask for unknown failures.
 */
export function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') return name;
  }
  return '_OTHER';
}
