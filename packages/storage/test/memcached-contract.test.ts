import { realCacheStore } from '@shardcount/test-services';
import { describe, test } from 'vitest';
import { runCacheStoreContract } from '../src/testing/index.js';

runCacheStoreContract(
  { describe, test },
  { name: 'MemcachedCacheStore (real memcached)', create: () => realCacheStore() },
);
