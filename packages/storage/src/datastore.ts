/**
 * `@shardcount/storage/datastore`: the `EntityStore` on Google Cloud Datastore and
 * Firestore in Datastore mode. Needs the optional peer dependency `@google-cloud/datastore`
 * (`>=10.1 <12`), which the app installs and configures.
 *
 * ```ts
 * import { Datastore } from '@google-cloud/datastore';
 * import { DatastoreEntityStore } from '@shardcount/storage/datastore';
 *
 * const store = new DatastoreEntityStore({ datastore: new Datastore() });
 * ```
 *
 * @packageDocumentation
 */
export type { DatastoreClient } from './entity/datastore-client.js';
export {
  DATASTORE_LIMITS,
  DatastoreEntityBackend,
  type DatastoreEntityBackendOptions,
  DatastoreEntityStore,
  type DatastoreEntityStoreOptions,
  DEFAULT_DATASTORE_CALL_TIMEOUT_MS,
} from './entity/datastore-entity-store.js';
