/**
 * The counter instrument for a package's event: `shardcount.<package>.<event>` in
 * OpenTelemetry's lower-case, underscore style (`cacheHit` of `local-cache` becomes
 * `shardcount.local_cache.cache_hit`).
 */
export function eventCounterName(pkg: string, event: string): string {
  const snake = (text: string): string =>
    text
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/[^A-Za-z0-9_]+/g, '_')
      .toLowerCase();
  return `shardcount.${snake(pkg)}.${snake(event)}`;
}
