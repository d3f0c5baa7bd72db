import { realCacheStore } from '@shardcount/test-services';
import { runLocalCacheSuite } from './helpers/local-cache-suite.js';

// The version tags on Valkey: one server, then a three-primary cluster (each key's tag on
// whichever node owns its slot).
runLocalCacheSuite({
  name: 'ValkeyCacheStore (server)',
  create: () => realCacheStore({ cache: 'valkey' }),
});
runLocalCacheSuite({
  name: 'ValkeyCacheStore (cluster)',
  create: () => realCacheStore({ cache: 'valkey-cluster' }),
});
