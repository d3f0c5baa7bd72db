/**
 * `@shardcount/storage/testing`: what adapter authors and every shardcount package use to
 * test storage: the conformance suites that every `EntityStore` and
 * `CacheStore` passes, and wrappers that inject faults and count calls.
 *
 * @packageDocumentation
 */
export {
  type CacheStoreContractCapabilities,
  type CacheStoreContractOptions,
  runCacheStoreContract,
} from './cache-store-contract.js';
export type { ContractTestApi } from './contract-test-api.js';
export {
  type EntityStoreContractCapabilities,
  type EntityStoreContractOptions,
  runEntityStoreContract,
} from './entity-store-contract.js';
export {
  type CacheCallCounts,
  type CacheFaultScope,
  type CacheFaults,
  type CacheOperation,
  FaultInjectingCacheStore,
} from './fault-injecting-cache-store.js';
export {
  type EntityCallCounts,
  type EntityFailOptions,
  type EntityFaultScope,
  type EntityFaults,
  type EntityOperation,
  FaultInjectingEntityStore,
  type FaultInjectingEntityStoreOptions,
  type HeldEntityCall,
} from './fault-injecting-entity-store.js';
