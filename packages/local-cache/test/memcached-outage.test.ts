import { runCacheOutageSuite } from './helpers/cache-outage-suite.js';

runCacheOutageSuite('memcached');
