import { realCacheStore } from '@shardcount/test-services';
import { describe, test } from 'vitest';
import { runCacheStoreContract } from '../src/testing/index.js';

runCacheStoreContract(
  { describe, test },
  {
    name: 'ValkeyCacheStore (real standalone server)',
    create: () => realCacheStore({ cache: 'valkey' }),
    capabilities: {
      ttlGranularity: 'milliseconds',
      counterOverflow: 'refused',
      inFlightAbort: true,
    },
  },
);

runCacheStoreContract(
  { describe, test },
  {
    name: 'ValkeyCacheStore (real three-primary cluster)',
    create: () => realCacheStore({ cache: 'valkey-cluster' }),
    capabilities: {
      ttlGranularity: 'milliseconds',
      counterOverflow: 'refused',
      inFlightAbort: true,
    },
  },
);
