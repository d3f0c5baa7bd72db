import { describe, test } from 'vitest';
import { MemoryCacheStore, MemoryEntityStore } from '../src/index.js';
import {
  FaultInjectingCacheStore,
  FaultInjectingEntityStore,
  runCacheStoreContract,
  runEntityStoreContract,
} from '../src/testing/index.js';

runEntityStoreContract(
  { describe, test },
  { name: 'MemoryEntityStore', create: () => new MemoryEntityStore() },
);
runCacheStoreContract(
  { describe, test },
  { name: 'MemoryCacheStore', create: () => new MemoryCacheStore() },
);

// The wrappers must be transparent when no fault is armed: they pass the same contracts.
runEntityStoreContract(
  { describe, test },
  {
    name: 'FaultInjectingEntityStore(memory)',
    create: () => new FaultInjectingEntityStore(new MemoryEntityStore()),
  },
);
runCacheStoreContract(
  { describe, test },
  {
    name: 'FaultInjectingCacheStore(memory)',
    create: () => new FaultInjectingCacheStore(new MemoryCacheStore()),
    capabilities: { ttl: false },
  },
);
