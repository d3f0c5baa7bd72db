import { realEntityStore } from '@shardcount/test-services';
import { describe, test } from 'vitest';
import { runEntityStoreContract } from '../src/testing/index.js';

// The shared emulator runs in Firestore-in-Datastore mode; every store gets a fresh namespace.
runEntityStoreContract(
  { describe, test },
  {
    name: 'DatastoreEntityStore (emulator, Firestore-in-Datastore mode)',
    create: () => realEntityStore(),
    // 50 writers on one entity: many short retries finish sooner than few long waits.
    capabilities: { contentionRetry: { retries: 200, minTimeoutMs: 5, maxTimeoutMs: 50 } },
  },
);
