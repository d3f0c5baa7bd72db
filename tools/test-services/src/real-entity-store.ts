import { randomUUID } from 'node:crypto';
import type { RetryPolicy } from '@shardcount/storage';
import { DatastoreEntityStore } from '@shardcount/storage/datastore';
import { inject } from 'vitest';
import { createEmulatorClient } from './datastore-emulator.js';
import type {} from './provided-context.js';

/** Options of {@link realEntityStore}. */
export interface RealEntityStoreOptions {
  /**
   * Datastore namespace of the store; a fresh random one (`test-<uuid>`) by default, so
   * test files sharing the emulator never see each other's entities.
   */
  readonly namespace?: string;
  /** Retry policy of `transact`; fields left out keep the store's defaults. */
  readonly retry?: Partial<RetryPolicy>;
}

/**
 * A {@link DatastoreEntityStore} on the Cloud Datastore emulator the test run shares
 * (`inject('datastoreEmulatorAddress')`, Firestore-in-Datastore mode), with its own
 * Datastore client. Call it inside a vitest test or hook and close the store when done
 * (`await store.close()`); two stores made with the same `namespace` see the same data.
 */
export function realEntityStore(options: RealEntityStoreOptions = {}): DatastoreEntityStore {
  const namespace = options.namespace ?? `test-${randomUUID()}`;
  const datastore = createEmulatorClient(
    inject('datastoreEmulatorAddress'),
    inject('datastoreProjectId'),
    { namespace },
  );
  return new DatastoreEntityStore(
    options.retry === undefined ? { datastore } : { datastore, retry: options.retry },
  );
}
