import { runTwoProcessSuite } from './helpers/two-process-suite.js';

runTwoProcessSuite('memcached');
