import { MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
import { v4 as uuidv4 } from 'uuid';
import { runAbortSuite } from './helpers/abort-suite.js';

runAbortSuite({
  label: 'the embedded adapters',
  sequentialIncrements: 0,
  makeEnv: async () => {
    const store = new MemoryEntityStore();
    const cache = new MemoryCacheStore();
    return {
      store,
      cache,
      cacheKeyPrefix: `core-abort-${uuidv4()}:`,
      close: async () => {
        await Promise.all([store.close(), cache.close()]);
      },
    };
  },
});
