import type { TestProject } from 'vitest/node';
import type { DatastoreEmulator } from './datastore-emulator.js';
import type { MemcachedServer } from './memcached-server.js';

import type {} from './provided-context.js';

let memcached: MemcachedServer | undefined;
let emulator: DatastoreEmulator | undefined;

/**
 * Vitest global setup: one memcached and one Datastore emulator for the whole run, on free
 * ports, stopped in teardown whatever the tests did. Tests isolate themselves with unique
 * key prefixes and Datastore namespaces; tests that stop a server start their own.
 */
export async function setup(project: TestProject): Promise<void> {
  // SHARDCOUNT_REAL_SERVICES=off runs only the embedded-adapter tests quickly while developing;
  // the README's test command never sets it, so CI always runs against the real services.
  if (process.env.SHARDCOUNT_REAL_SERVICES === 'off') return;
  const { startMemcached } = await import('./memcached-server.js');
  const { startDatastoreEmulator } = await import('./datastore-emulator.js');
  [memcached, emulator] = await Promise.all([startMemcached(), startDatastoreEmulator()]);
  project.provide('memcachedAddress', memcached.address);
  project.provide('datastoreEmulatorAddress', emulator.address);
  project.provide('datastoreProjectId', emulator.projectId);
}

export async function teardown(): Promise<void> {
  await Promise.allSettled([memcached?.stop(), emulator?.stop()]);
}
