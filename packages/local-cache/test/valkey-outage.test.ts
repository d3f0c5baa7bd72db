import { runCacheOutageSuite } from './helpers/cache-outage-suite.js';

runCacheOutageSuite('valkey');
