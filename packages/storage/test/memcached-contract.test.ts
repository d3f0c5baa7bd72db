import { realCacheStore } from '@shardcount/test-services';
import { describe, test } from 'vitest';
import { FaultInjectingCacheStore, runCacheStoreContract } from '../src/testing/index.js';

runCacheStoreContract(
  { describe, test },
  {
    name: 'MemcachedCacheStore (real memcached)',
    create: () => realCacheStore(),
    capabilities: { inFlightAbort: true },
  },
);

// The wrapper hands signals through untouched when no fault is armed.
runCacheStoreContract(
  { describe, test },
  {
    name: 'FaultInjectingCacheStore(MemcachedCacheStore, real memcached)',
    create: async () => new FaultInjectingCacheStore(await realCacheStore()),
    capabilities: { inFlightAbort: true, ttl: false },
  },
);
