import { realCacheStore, realEntityStore } from '@shardcount/test-services';
import { v4 as uuidv4 } from 'uuid';
import { runAbortSuite } from './helpers/abort-suite.js';

runAbortSuite({
  label: 'the Datastore emulator + memcached',
  sequentialIncrements: 0,
  makeEnv: async () => {
    const store = realEntityStore();
    const cache = realCacheStore();
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
