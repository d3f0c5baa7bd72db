import { MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
import { v4 as uuidv4 } from 'uuid';
import { runBatchSuite } from './helpers/batch-suite.js';

runBatchSuite({
  label: 'the embedded adapters',
  sequentialIncrements: 0,
  makeEnv: async () => {
    const store = new MemoryEntityStore();
    const cache = new MemoryCacheStore();
    return {
      store,
      cache,
      cacheKeyPrefix: `core-batch-${uuidv4()}:`,
      close: async () => {
        await Promise.all([store.close(), cache.close()]);
      },
    };
  },
});
