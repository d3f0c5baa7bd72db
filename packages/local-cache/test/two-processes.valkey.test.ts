import { runTwoProcessSuite } from './helpers/two-process-suite.js';

runTwoProcessSuite('valkey');
runTwoProcessSuite('valkey-cluster');
