import { MemoryCacheStore } from '@shardcount/storage';
import { runLocalCacheSuite } from './helpers/local-cache-suite.js';

runLocalCacheSuite({ name: 'MemoryCacheStore', create: () => new MemoryCacheStore() });
