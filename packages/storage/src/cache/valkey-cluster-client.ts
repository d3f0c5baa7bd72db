import { Cluster, type ClusterNode, type ClusterOptions } from 'iovalkey';

/**
 * Makes an iovalkey `Cluster` client configured the way `ValkeyCacheStore` needs: a command
 * whose connection drops before its answer fails instead of being sent again after the
 * reconnect (iovalkey's defaults resend it, and a resent `incr` counts twice), and errors
 * surface through the calls instead of being logged. Everything else is iovalkey's default
 * or what `options` says (TLS, `redisOptions.password` for AUTH, `natMap`, ...); the three
 * settings that prevent resending always win. The caller owns the client: disconnect it
 * after closing the store.
 *
 * @param startupNodes - where to discover the cluster: `'host:port'` strings or
 * `{ host, port }` (Memorystore for Valkey: its discovery endpoint)
 * @param options - more iovalkey `Cluster` options
 *
 * @example
 * ```ts
 * const cluster = createValkeyCluster(['10.0.0.8:6379']);
 * const cache = new ValkeyCacheStore({ client: cluster, timeoutMs: 200 });
 * // ...
 * await cache.close();
 * cluster.disconnect();
 * ```
 */
export function createValkeyCluster(
  startupNodes: readonly ClusterNode[],
  options: ClusterOptions = {},
): Cluster {
  const cluster = new Cluster([...startupNodes], {
    ...options,
    retryDelayOnFailover: 0,
    redisOptions: {
      ...options.redisOptions,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    },
  });
  // Failures reach callers through their calls; without a listener iovalkey logs them.
  cluster.on('error', () => {});
  return cluster;
}
