import type { TestProject } from 'vitest/node';
import type { DatastoreEmulator } from './datastore-emulator.js';
import type { MemcachedServer } from './memcached-server.js';
import type {} from './provided-context.js';
import type { ValkeyCluster, ValkeyServer } from './valkey-server.js';

let memcached: MemcachedServer | undefined;
let emulator: DatastoreEmulator | undefined;
let valkey: ValkeyServer | undefined;
let valkeyCluster: ValkeyCluster | undefined;

/**
 * Vitest global setup: one memcached, one Valkey server, one three-primary Valkey cluster
 * and one Datastore emulator for the whole run, on free ports, stopped in teardown whatever
 * the tests did (and here, when one of them fails to start). Tests isolate themselves with
 * unique key prefixes and Datastore namespaces; tests that stop a server start their own.
 */
export async function setup(project: TestProject): Promise<void> {
  // SHARDCOUNT_REAL_SERVICES=off runs only the embedded-adapter tests quickly while developing;
  // the README's test command never sets it, so CI always runs against the real services.
  if (process.env.SHARDCOUNT_REAL_SERVICES === 'off') return;
  const { startMemcached } = await import('./memcached-server.js');
  const { startDatastoreEmulator } = await import('./datastore-emulator.js');
  const { startValkey, startValkeyCluster } = await import('./valkey-server.js');
  // Each is kept as soon as it is up, so a failure of another still stops it.
  const started = await Promise.allSettled([
    startMemcached().then((server) => {
      memcached = server;
    }),
    startDatastoreEmulator().then((server) => {
      emulator = server;
    }),
    startValkey().then((server) => {
      valkey = server;
    }),
    startValkeyCluster().then((cluster) => {
      valkeyCluster = cluster;
    }),
  ]);
  const failure = started.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await teardown();
    throw (failure as PromiseRejectedResult).reason;
  }
  project.provide('memcachedAddress', memcached!.address);
  project.provide('datastoreEmulatorAddress', emulator!.address);
  project.provide('datastoreProjectId', emulator!.projectId);
  project.provide('valkeyUrl', valkey!.url);
  project.provide('valkeyClusterAddresses', valkeyCluster!.addresses);
}

export async function teardown(): Promise<void> {
  await Promise.allSettled([
    memcached?.stop(),
    emulator?.stop(),
    valkey?.stop(),
    valkeyCluster?.stop(),
  ]);
}
