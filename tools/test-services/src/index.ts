/**
 * Real services for shardcount's tests (memcached, Valkey standalone and cluster, the Datastore emulator). Every server is a child process this module
 * started; `stop()` ends exactly that process (and an exit hook ends any a crashed test
 * left), so tests never touch a server they did not start.
 */
import type {} from './provided-context.js';

export {
  createEmulatorClient,
  type DatastoreEmulator,
  type StartDatastoreEmulatorOptions,
  startDatastoreEmulator,
} from './datastore-emulator.js';
export { freePort } from './free-port.js';
export type { StartMemcachedOptions } from './memcached-server.js';
export { type MemcachedServer, startMemcached } from './memcached-server.js';
export {
  REAL_CACHE_KINDS,
  type RealCacheKind,
  type RealCacheStoreOptions,
  realCacheStore,
  valkeyClusterClient,
} from './real-cache-store.js';
export { type RealEntityStoreOptions, realEntityStore } from './real-entity-store.js';
export { TYPESCRIPT_RUNNER } from './typescript-runner.js';
export {
  type StartValkeyClusterOptions,
  type StartValkeyOptions,
  startValkey,
  startValkeyCluster,
  type ValkeyCluster,
  type ValkeyServer,
} from './valkey-server.js';
