import { randomUUID } from 'node:crypto';
import type { CacheStore } from '@shardcount/storage';
import { DatastoreEntityStore } from '@shardcount/storage/datastore';
import { MemcachedCacheStore } from '@shardcount/storage/memcached';
import { ValkeyCacheStore } from '@shardcount/storage/valkey';
import {
  type DatastoreEmulator,
  type MemcachedServer,
  startDatastoreEmulator,
  startMemcached,
  startValkey,
  type ValkeyServer,
} from '@shardcount/test-services';
import { Redis } from 'iovalkey';
import memjs from 'memjs';
import type { CacheKind, EmulatorMode } from '../cli-options.js';
import type { Backend, RawGet, RawIncrement } from './backend.js';

/** memcached item memory, in megabytes: room for every key a run writes. */
const MEMCACHED_MEMORY_MB = 256;
/** Per-call timeout of the cache adapter; generous, so a busy 2-core box is not an outage. */
const CACHE_TIMEOUT_MS = 2_000;

const silentLogger = { log(): void {} };

/**
 * The real services: a Cloud Datastore emulator (by default in Firestore-in-Datastore mode,
 * the mode new projects get) and a memcached or a Valkey server, both started here on free
 * ports and stopped by `close()`.
 */
export async function createRealBackend(
  mode: EmulatorMode,
  cache: CacheKind = 'memcached',
): Promise<Backend> {
  if (cache === 'valkey') return createValkeyBackend(mode);
  const [emulatorStart, memcachedStart] = await Promise.allSettled([
    startDatastoreEmulator({ mode }),
    startMemcached({ memoryMb: MEMCACHED_MEMORY_MB }),
  ]);
  const emulator: DatastoreEmulator | undefined =
    emulatorStart.status === 'fulfilled' ? emulatorStart.value : undefined;
  const memcached: MemcachedServer | undefined =
    memcachedStart.status === 'fulfilled' ? memcachedStart.value : undefined;
  if (emulator === undefined || memcached === undefined) {
    await Promise.allSettled([emulator?.stop(), memcached?.stop()]);
    const failed = emulatorStart.status === 'rejected' ? emulatorStart : memcachedStart;
    throw failed.status === 'rejected' ? failed.reason : new Error('a service did not start');
  }

  const caches = new Set<CacheStore>();
  let closing: Promise<void> | undefined;
  return {
    kind: 'real',
    adapters: {
      entityStore: `DatastoreEntityStore on the Cloud Datastore emulator (${mode === 'legacy' ? 'legacy Datastore' : 'Firestore-in-Datastore'} mode, ${emulator.address})`,
      cacheStore: `MemcachedCacheStore on memcached (${memcached.address}, timeoutMs ${CACHE_TIMEOUT_MS})`,
      rawIncrement: 'memjs 1.3.2 Client.increment on the same memcached',
    },
    createEntityStore: async () =>
      new DatastoreEntityStore({
        datastore: emulator.createClient({ namespace: `bench-${randomUUID()}` }),
      }),
    createCacheStore: () => {
      const cache = new MemcachedCacheStore({
        servers: memcached.address,
        timeoutMs: CACHE_TIMEOUT_MS,
      });
      caches.add(cache);
      return cache;
    },
    createRawIncrement: (): RawIncrement => {
      const client = memjs.Client.create(memcached.address, {
        logger: silentLogger,
        timeout: CACHE_TIMEOUT_MS / 1000,
      });
      let calls = 0;
      return {
        label: 'memjs Client.increment (raw, same memcached)',
        async increment(key) {
          calls++;
          await client.increment(key, 1, { initial: 1 });
        },
        get calls() {
          return calls;
        },
        close: async () => client.close(),
      };
    },
    createRawGet: (): RawGet => {
      const client = memjs.Client.create(memcached.address, {
        logger: silentLogger,
        timeout: CACHE_TIMEOUT_MS / 1000,
      });
      let calls = 0;
      return {
        label: 'memjs Client.get (raw, same memcached)',
        async get(key) {
          calls++;
          await client.get(key);
        },
        async prepare(key) {
          await client.set(key, 'tag');
        },
        get calls() {
          return calls;
        },
        close: async () => client.close(),
      };
    },
    close: () => {
      closing ??= (async () => {
        await Promise.allSettled([...caches].map((cache) => cache.close()));
        await Promise.allSettled([emulator.stop(), memcached.stop()]);
      })();
      return closing;
    },
  };
}

/** A raw iovalkey client on the benchmark's server, configured as the store's own client. */
function rawValkeyClient(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false });
  client.on('error', () => {});
  return client;
}

/** The Datastore emulator and a Valkey-compatible server (redis-server 7 here). */
async function createValkeyBackend(mode: EmulatorMode): Promise<Backend> {
  const [emulatorStart, valkeyStart] = await Promise.allSettled([
    startDatastoreEmulator({ mode }),
    startValkey(),
  ]);
  const emulator: DatastoreEmulator | undefined =
    emulatorStart.status === 'fulfilled' ? emulatorStart.value : undefined;
  const valkey: ValkeyServer | undefined =
    valkeyStart.status === 'fulfilled' ? valkeyStart.value : undefined;
  if (emulator === undefined || valkey === undefined) {
    await Promise.allSettled([emulator?.stop(), valkey?.stop()]);
    const failed = emulatorStart.status === 'rejected' ? emulatorStart : valkeyStart;
    throw failed.status === 'rejected' ? failed.reason : new Error('a service did not start');
  }

  const caches = new Set<CacheStore>();
  let closing: Promise<void> | undefined;
  return {
    kind: 'real',
    adapters: {
      entityStore: `DatastoreEntityStore on the Cloud Datastore emulator (${mode === 'legacy' ? 'legacy Datastore' : 'Firestore-in-Datastore'} mode, ${emulator.address})`,
      cacheStore: `ValkeyCacheStore on a Valkey-compatible server (redis-server 7, ${valkey.address}, timeoutMs ${CACHE_TIMEOUT_MS})`,
      rawIncrement: 'iovalkey INCRBY on the same server',
      rawGet: 'iovalkey GET on the same server',
    },
    createEntityStore: async () =>
      new DatastoreEntityStore({
        datastore: emulator.createClient({ namespace: `bench-${randomUUID()}` }),
      }),
    createCacheStore: () => {
      const cache = new ValkeyCacheStore({ url: valkey.url, timeoutMs: CACHE_TIMEOUT_MS });
      caches.add(cache);
      return cache;
    },
    createRawIncrement: (): RawIncrement => {
      const client = rawValkeyClient(valkey.url);
      let calls = 0;
      return {
        label: 'iovalkey INCRBY (raw, same server)',
        async increment(key) {
          calls++;
          await client.incrby(key, 1);
        },
        get calls() {
          return calls;
        },
        close: async () => client.disconnect(),
      };
    },
    createRawGet: (): RawGet => {
      const client = rawValkeyClient(valkey.url);
      let calls = 0;
      return {
        label: 'iovalkey GET (raw, same server)',
        async get(key) {
          calls++;
          await client.get(key);
        },
        async prepare(key) {
          await client.set(key, 'tag');
        },
        get calls() {
          return calls;
        },
        close: async () => client.disconnect(),
      };
    },
    close: () => {
      closing ??= (async () => {
        await Promise.allSettled([...caches].map((cache) => cache.close()));
        await Promise.allSettled([emulator.stop(), valkey.stop()]);
      })();
      return closing;
    },
  };
}
