import { realCacheStore } from '@shardcount/test-services';
import { runLocalCacheSuite } from './helpers/local-cache-suite.js';

runLocalCacheSuite({ name: 'MemcachedCacheStore', create: () => realCacheStore() });
