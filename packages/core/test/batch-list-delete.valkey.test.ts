import { realCacheStore, realEntityStore } from '@shardcount/test-services';
import { v4 as uuidv4 } from 'uuid';
import { runBatchSuite } from './helpers/batch-suite.js';

// The batch reads on a three-primary Valkey cluster: one getCounters' getMany spans keys of
// many slots, which the cluster store splits by slot owner.
runBatchSuite({
  label: 'the Datastore emulator + a Valkey cluster',
  sequentialIncrements: 0,
  makeEnv: async () => {
    const store = realEntityStore();
    const cache = realCacheStore({ cache: 'valkey-cluster' });
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
