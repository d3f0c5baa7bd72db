/**
 * Real services for shardcount's tests. Every server is a child process this module
 * started; `stop()` ends exactly that process (and an exit hook ends any a crashed test
 * left), so tests never touch a server they did not start.
 */
export { type DatastoreEmulator, startDatastoreEmulator } from './datastore-emulator.js';
export { freePort } from './free-port.js';
export { type MemcachedServer, startMemcached } from './memcached-server.js';
