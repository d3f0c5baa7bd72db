/**
 * What {@link DatastoreEntityBackend} uses of a `@google-cloud/datastore` client, typed by
 * shape rather than by the library's own class. The library's `Datastore` type changes from
 * major to major (its google-auth-library and gaxios types differ between 10.x and 11.x), so
 * an option typed by one version's class refuses a client of the other. Every client of a
 * supported version (`>=10.1 <12`) matches this shape; the adapter checks at run time that
 * the methods are there.
 */
export interface DatastoreClient {
  /** The symbol under which the library stores an entity's key. */
  readonly KEY: symbol;
  /** The client's default namespace, if it was configured with one. */
  readonly namespace?: string | undefined;
  /** The client's options; only `projectId` is read, for descriptions. */
  readonly options?:
    | {
        /** The project the client was configured for, if it was given one. */
        readonly projectId?: string | undefined;
      }
    | undefined;
  /** Makes a key (`datastore.key({ namespace, path })`). */
  readonly key: (...args: never[]) => unknown;
  /** Opens a transaction object (`datastore.transaction()`). */
  readonly transaction: (...args: never[]) => unknown;
  /** Non-transactional lookup. */
  readonly get: (...args: never[]) => unknown;
  /** Non-transactional upsert. */
  readonly save: (...args: never[]) => unknown;
  /** Non-transactional delete. */
  readonly delete: (...args: never[]) => unknown;
  /** Makes a query. */
  readonly createQuery: (...args: never[]) => unknown;
  /** Runs a query. */
  readonly runQuery: (...args: never[]) => unknown;
}

/** The methods {@link DatastoreClient} needs at run time, checked by the adapter's constructor. */
export const DATASTORE_CLIENT_METHODS = [
  'key',
  'transaction',
  'get',
  'save',
  'delete',
  'createQuery',
  'runQuery',
  'isInt',
  'isDouble',
  'double',
] as const;
