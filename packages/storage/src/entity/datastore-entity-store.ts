import type { Datastore, Key as DatastoreKey, Transaction } from '@google-cloud/datastore';
import { InvalidArgumentError } from '../errors/index.js';
import { assertInteger, assertString, invalidArgument } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';
import { BackendEntityStore, type EntityStoreOptions } from './backend-entity-store.js';
import { DATASTORE_CLIENT_METHODS, type DatastoreClient } from './datastore-client.js';
import {
  type DatastoreOperation,
  datastoreCallTimeoutError,
  mapDatastoreError,
} from './datastore-errors.js';
import { fromDatastoreEntity, toDatastoreData } from './datastore-values.js';
import { assertBackendQuery } from './entity-arguments.js';
import type {
  BackendQuery,
  BackendTransaction,
  EntityBackend,
  EntityBackendLimits,
  Mutation,
  QueryRow,
  StoredEntity,
} from './entity-backend.js';
import {
  type Key,
  keyId,
  MAX_KEY_NAME_BYTES,
  key as makeKey,
  unindexedPropertiesOf,
} from './key.js';
import { isReservedKeyName, prefixUpperBound } from './key-order.js';

/** Cloud Datastore's per-call limits: 1000 keys per lookup, 500 mutations per commit. */
export const DATASTORE_LIMITS: EntityBackendLimits = Object.freeze({
  maxLookupKeys: 1000,
  maxMutationsPerCommit: 500,
});

/** Default of {@link DatastoreEntityBackendOptions.callTimeoutMs}: 20 s. */
export const DEFAULT_DATASTORE_CALL_TIMEOUT_MS = 20_000;

/**
 * How long after `callTimeoutMs` the backend's own timer gives up on a call. The library's
 * deadline fires first when it works, and its error names the last gRPC failure; the grace
 * only has to cover the library's lateness (a retry's backoff sleep can overrun its total
 * deadline by seconds, and a failed transactional commit waits for an automatic rollback
 * that has a 60 s deadline of its own).
 */
const OWN_TIMER_GRACE_MS = 250;

/** Largest `callTimeoutMs`: what `setTimeout` honours (2^31 − 1 ms) less the grace. */
const MAX_CALL_TIMEOUT_MS = 2 ** 31 - 1 - OWN_TIMER_GRACE_MS;

/**
 * A transaction of this backend. It begins lazily, as `@google-cloud/datastore` allows: the
 * first lookup asks Datastore to begin it (one round trip fewer per transaction); a
 * transaction that commits without reading begins explicitly just before its commit.
 */
interface OpenTransaction {
  readonly native: Transaction;
  /** Whether Datastore has begun the transaction (a lookup through it succeeded, or run()). */
  begun: boolean;
  /** The lookup that is beginning the transaction; other lookups wait for it. */
  beginning: Promise<void> | undefined;
  /** Committed or rolled back: a lookup still waiting for `beginning` must not begin it. */
  ended: boolean;
}

/** Options of {@link DatastoreEntityBackend}. */
export interface DatastoreEntityBackendOptions {
  /**
   * The `@google-cloud/datastore` client to use (10.1 or later, 11.x included), configured by
   * the caller (project, credentials, endpoint). The backend owns it from now on: `close()`
   * closes it. Typed by the methods the adapter calls ({@link DatastoreClient}), so a
   * client of any supported major version compiles.
   */
  readonly datastore: DatastoreClient;
  /**
   * Namespace of every key and query. Defaults to the client's own `namespace`, else the
   * default namespace.
   */
  readonly namespace?: string;
  /**
   * Longest time, in milliseconds, one backend call (a begin, lookup, commit, rollback or
   * query) may take, including every retry `@google-cloud/datastore` makes by itself. A
   * positive integer; default {@link DEFAULT_DATASTORE_CALL_TIMEOUT_MS} (20 000).
   *
   * Each call passes it to the library as its gax `timeout` (for lookups and queries that
   * is also the total deadline of the library's retries on `UNAVAILABLE` and
   * `DEADLINE_EXCEEDED`, which otherwise last up to 60 s), and is also raced against a
   * timer of its own, so a call settles within `callTimeoutMs` plus 250 ms even when the
   * library does not. A call that runs out of time fails like a `DEADLINE_EXCEEDED`: a
   * begin, lookup, query or rollback with `StoreUnavailableError` (nothing written), a
   * commit with `AmbiguousCommitError` (it may still be applied). A store-level operation
   * that makes several calls (a large `loadMany`, `saveMany`, a transaction) may take up
   * to this long per call. The time counts from the store's call, so a client's first call
   * also spends it loading and connecting the gRPC client (over a second on a busy
   * machine): keep it well above that.
   */
  readonly callTimeoutMs?: number;
}

const BACKEND_OPTION_FIELDS = ['datastore', 'namespace', 'callTimeoutMs'] as const;

/** Options of {@link DatastoreEntityStore}. */
export interface DatastoreEntityStoreOptions
  extends DatastoreEntityBackendOptions,
    EntityStoreOptions {}

/**
 * {@link EntityBackend} over Cloud Datastore through `@google-cloud/datastore`. Maps gRPC
 * failures to shardcount errors (see `mapDatastoreError`): `ABORTED` → `ContentionError`,
 * a transient failure during commit → `AmbiguousCommitError`, the same before commit →
 * `StoreUnavailableError`, an over-limit call → `LimitExceededError`.
 *
 * Transactions begin lazily: `beginTransaction()` does no I/O, the first lookup through
 * the transaction begins it on the server, and a transaction that read nothing begins just
 * before its commit (or not at all when it wrote nothing either). That saves one round trip
 * per transaction.
 */
export class DatastoreEntityBackend implements EntityBackend {
  readonly description: string;
  /** Tracing's `db.system.name`: OpenTelemetry has no registered value for Cloud Datastore. */
  readonly system = 'gcp.datastore';
  readonly limits: EntityBackendLimits = DATASTORE_LIMITS;
  readonly #datastore: Datastore;
  readonly #namespace: string | undefined;
  readonly #callTimeoutMs: number;
  /** Per-call options of the library: its own deadline, retries included. */
  readonly #gaxOptions: { readonly timeout: number };
  /** Lookup and query options: integers come back wrapped (never rounded), with the deadline. */
  readonly #readOptions: { readonly wrapNumbers: true; readonly gaxOptions: { timeout: number } };
  readonly #transactions = new WeakMap<BackendTransaction, OpenTransaction>();
  #nextTransaction = 1;
  #closed: Promise<void> | undefined;

  /**
   * Creates a backend over a caller-configured client; no I/O happens until the first call.
   *
   * @param options - the client, the namespace and the per-call timeout
   */
  constructor(options: DatastoreEntityBackendOptions) {
    if (options === undefined) {
      throw invalidArgument(
        'options',
        'an options object with a Datastore client as options.datastore',
        options,
      );
    }
    const fields = readOptions(options, 'options', BACKEND_OPTION_FIELDS);
    const client = fields.datastore;
    if (
      typeof client !== 'object' ||
      client === null ||
      DATASTORE_CLIENT_METHODS.some(
        (method) => typeof (client as Record<string, unknown>)[method] !== 'function',
      )
    ) {
      throw invalidArgument(
        'options.datastore',
        'a Datastore client from @google-cloud/datastore (>=10.1 <12)',
        client,
      );
    }
    // The shape was checked above; inside, the adapter uses the library's own types.
    const datastore = client as Datastore;
    if (fields.namespace !== undefined) {
      assertString(fields.namespace, 'options.namespace', { allowEmpty: true });
    }
    const callTimeoutMs =
      fields.callTimeoutMs === undefined ? DEFAULT_DATASTORE_CALL_TIMEOUT_MS : fields.callTimeoutMs;
    assertInteger(callTimeoutMs, 'options.callTimeoutMs', { min: 1, max: MAX_CALL_TIMEOUT_MS });
    this.#datastore = datastore;
    this.#callTimeoutMs = callTimeoutMs;
    this.#gaxOptions = Object.freeze({ timeout: callTimeoutMs });
    this.#readOptions = Object.freeze({
      wrapNumbers: true,
      gaxOptions: { timeout: callTimeoutMs },
    });
    // '' is Datastore's name for the default namespace.
    this.#namespace =
      ((fields.namespace as string | undefined) ?? datastore.namespace) || undefined;
    const project = datastore.options?.projectId ?? '(detected project)';
    this.description = `datastore(${project}/${this.#namespace ?? '(default)'})`;
  }

  /** The namespace every key and query of this backend uses; `undefined` is the default one. */
  get namespace(): string | undefined {
    return this.#namespace;
  }

  /** Longest time one backend call may take, in milliseconds (see the option). */
  get callTimeoutMs(): number {
    return this.#callTimeoutMs;
  }

  /**
   * Opens a transaction without I/O: Datastore begins it with the first lookup (or just
   * before a commit that read nothing), so a failure to begin surfaces there, as
   * `StoreUnavailableError`.
   */
  async beginTransaction(): Promise<BackendTransaction> {
    const handle: BackendTransaction = Object.freeze({
      id: `datastore-tx-${this.#nextTransaction++}`,
    });
    this.#transactions.set(handle, {
      native: this.#datastore.transaction(),
      begun: false,
      beginning: undefined,
      ended: false,
    });
    return handle;
  }

  async lookup(
    keys: readonly Key[],
    transaction?: BackendTransaction,
  ): Promise<Array<StoredEntity | undefined>> {
    if (keys.length === 0) return [];
    const open = this.#open(transaction);
    const nativeKeys = keys.map((k) => this.#nativeKey(k));
    let found: object[];
    try {
      const [entities] = open
        ? await this.#bounded(this.#transactionalGet(open, nativeKeys))
        : await this.#bounded(this.#datastore.get(nativeKeys, this.#readOptions));
      found = entities as object[];
    } catch (error) {
      throw this.#map(error, 'lookup', transaction);
    }
    // A multi-key get leaves missing entities out and does not keep the request order.
    const byId = new Map<string, object>();
    for (const entity of found) {
      const nativeKey = (entity as Record<symbol, DatastoreKey | undefined>)[this.#datastore.KEY];
      if (nativeKey?.kind !== undefined && nativeKey.name !== undefined) {
        byId.set(keyId({ kind: nativeKey.kind, name: nativeKey.name }), entity);
      }
    }
    return keys.map((k) => {
      const entity = byId.get(keyId(k));
      return entity === undefined ? undefined : fromDatastoreEntity(this.#datastore, k, entity);
    });
  }

  async commit(mutations: readonly Mutation[], transaction?: BackendTransaction): Promise<void> {
    const open = this.#open(transaction);
    if (open && transaction) {
      this.#transactions.delete(transaction);
      open.ended = true;
      await open.beginning;
      if (!open.begun) {
        if (mutations.length === 0) return; // read nothing, wrote nothing: no I/O at all
        // Began here, not inside commit(): a failure to begin is then known to have
        // written nothing, instead of looking like an ambiguous commit.
        await this.#run(open.native, transaction);
      }
      this.#queue(open.native, mutations);
      try {
        // The bound matters here beyond the library's deadline: after a failed commit the
        // library rolls back by itself, with a default 60 s deadline, before it reports.
        await this.#bounded(open.native.commit(this.#gaxOptions));
      } catch (error) {
        throw this.#map(error, 'commit', transaction);
      }
      return;
    }
    if (mutations.length === 0) return;
    const upserts = mutations.filter((m) => m.type === 'upsert');
    const deletes = mutations.filter((m) => m.type === 'delete');
    try {
      if (deletes.length === 0) {
        const entities = upserts.map((m) => this.#nativeEntity(m.key, m.entity));
        await this.#bounded(this.#datastore.save(entities, this.#gaxOptions));
      } else if (upserts.length === 0) {
        const keys = deletes.map((m) => this.#nativeKey(m.key));
        await this.#bounded(this.#datastore.delete(keys, this.#gaxOptions));
      } else {
        await this.#commitMixed(mutations);
      }
    } catch (error) {
      throw this.#map(error, 'commit');
    }
  }

  async rollback(transaction: BackendTransaction): Promise<void> {
    const open = this.#transactions.get(transaction);
    if (!open) return; // already committed or rolled back
    this.#transactions.delete(transaction);
    open.ended = true;
    // A lookup still beginning the transaction may yet begin it; let it settle first.
    await open.beginning;
    if (!open.begun) return; // never began on the server: nothing to release
    try {
      await this.#bounded(open.native.rollback(this.#gaxOptions));
    } catch (error) {
      throw this.#map(error, 'rollback', transaction);
    }
  }

  async query(query: BackendQuery): Promise<QueryRow[]> {
    assertBackendQuery(query);
    const range = keyRangeOf(query);
    if (query.limit === 0 || range === undefined) return [];
    // Loaded on first use (already in memory for anyone holding a Datastore client), so that
    // importing @shardcount/storage does not load @google-cloud/datastore for everyone.
    const { PropertyFilter: DatastorePropertyFilter } = await import('@google-cloud/datastore');
    let nativeQuery =
      this.#namespace === undefined
        ? this.#datastore.createQuery(query.kind)
        : this.#datastore.createQuery(this.#namespace, query.kind);
    for (const filter of query.filters) {
      nativeQuery = nativeQuery.filter(
        new DatastorePropertyFilter(filter.property, '=', filter.value),
      );
    }
    // Equality filters with inequalities on __key__ only, ordered by __key__: served by the
    // built-in indexes, no composite index needed.
    for (const bound of range) {
      const boundKey = this.#nativeKey({ kind: query.kind, name: bound.name });
      nativeQuery = nativeQuery.filter(new DatastorePropertyFilter('__key__', bound.op, boundKey));
    }
    nativeQuery = nativeQuery.order('__key__');
    if (query.limit !== undefined) nativeQuery = nativeQuery.limit(query.limit);
    let rows: object[];
    try {
      const [entities] = await this.#bounded(
        this.#datastore.runQuery(nativeQuery, this.#readOptions),
      );
      rows = entities as object[];
    } catch (error) {
      throw this.#map(error, 'query');
    }
    const results: QueryRow[] = [];
    for (const row of rows) {
      const nativeKey = (row as Record<symbol, DatastoreKey | undefined>)[this.#datastore.KEY];
      // Entities with numeric ids (written by other clients) have no shardcount key.
      if (nativeKey?.name === undefined) continue;
      // Past the prefix: the range had no upper bound (see keyRangeOf), and rows are
      // ordered, so every row from here on is past it too.
      if (query.keyPrefix !== undefined && !nativeKey.name.startsWith(query.keyPrefix)) break;
      const k = makeKey(query.kind, nativeKey.name);
      results.push({ key: k, entity: fromDatastoreEntity(this.#datastore, k, row) });
    }
    return results;
  }

  /** Closes the client's gRPC channels. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      // The library keeps one gapic client per API in `clients_`, created on first use.
      const clients: Array<{ close?: () => unknown }> = [
        ...(this.#datastore.clients_?.values() ?? []),
      ];
      await Promise.all(clients.map((client) => client.close?.()));
    })();
    return this.#closed;
  }

  /**
   * A non-transactional commit of upserts and deletes together: `@google-cloud/datastore`
   * only sends mixed mutations as a transaction, so this is a blind-write transaction
   * (nothing read, one commit), atomic like any commit.
   */
  async #commitMixed(mutations: readonly Mutation[]): Promise<void> {
    const native = this.#datastore.transaction();
    await this.#run(native);
    this.#queue(native, mutations);
    await this.#bounded(native.commit(this.#gaxOptions));
  }

  /** Begins `native` explicitly, mapping a failure as one of `beginTransaction`. */
  async #run(native: Transaction, transaction?: BackendTransaction): Promise<void> {
    try {
      await this.#bounded(native.run({ gaxOptions: this.#gaxOptions }));
    } catch (error) {
      throw this.#map(error, 'beginTransaction', transaction);
    }
  }

  /**
   * A lookup through a lazily begun transaction. `@google-cloud/datastore` begins the
   * transaction inside the first lookup but does not stop a second concurrent lookup from
   * beginning another one, so until the transaction has begun, lookups go one at a time.
   */
  async #transactionalGet(open: OpenTransaction, keys: DatastoreKey[]) {
    while (!open.begun && open.beginning) await open.beginning;
    if (open.begun) return open.native.get(keys, this.#readOptions);
    // Only a lookup whose caller gave up (timed out) while waiting gets here: beginning
    // the transaction now would leave it open on the server with no one to roll it back.
    if (open.ended) throw new Error('The transaction ended while this lookup waited to begin it.');
    // Bounded by itself too (the caller bounds the whole lookup, waiting included): a
    // rollback or a lookup waiting for `beginning` then waits no longer than that.
    const read = this.#bounded(open.native.get(keys, this.#readOptions));
    open.beginning = read.then(
      () => {
        open.begun = true;
      },
      () => undefined, // not begun (as far as we know): the next lookup tries again
    );
    try {
      return await read;
    } finally {
      open.beginning = undefined;
    }
  }

  /**
   * `call`, or a gRPC-shaped `DEADLINE_EXCEEDED` once `callTimeoutMs` plus a little has
   * passed without it settling (the caller maps it like any other). The library call goes
   * on in the background until its own deadline ends it; its outcome is then ignored.
   */
  async #bounded<T>(call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(datastoreCallTimeoutError(this.#callTimeoutMs)),
        this.#callTimeoutMs + OWN_TIMER_GRACE_MS,
      );
    });
    try {
      return await Promise.race([call, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  #queue(native: Transaction, mutations: readonly Mutation[]): void {
    const upserts = [];
    const deletes = [];
    for (const m of mutations) {
      if (m.type === 'upsert') upserts.push(this.#nativeEntity(m.key, m.entity));
      else deletes.push(this.#nativeKey(m.key));
    }
    if (upserts.length > 0) native.save(upserts);
    if (deletes.length > 0) native.delete(deletes);
  }

  #nativeEntity(k: Key, entity: StoredEntity) {
    // excludeLargeProperties: strings over 1500 bytes cannot be indexed, so they are
    // stored unindexed instead of being rejected. The library adds their paths to
    // excludeFromIndexes in place, so every entity gets an array of its own.
    return {
      key: this.#nativeKey(k),
      data: toDatastoreData(this.#datastore, entity),
      excludeFromIndexes: unindexedPaths(unindexedPropertiesOf(k)),
      excludeLargeProperties: true,
    };
  }

  #nativeKey(k: Key): DatastoreKey {
    return this.#datastore.key(
      this.#namespace === undefined
        ? { path: [k.kind, k.name] }
        : { namespace: this.#namespace, path: [k.kind, k.name] },
    );
  }

  #open(transaction: BackendTransaction | undefined): OpenTransaction | undefined {
    if (transaction === undefined) return undefined;
    const open = this.#transactions.get(transaction);
    if (open === undefined) {
      throw new InvalidArgumentError(
        `Transaction ${transaction.id} is not an open transaction of ${this.description}.`,
        { context: { transaction: transaction.id } },
      );
    }
    return open;
  }

  #map(error: unknown, operation: DatastoreOperation, transaction?: BackendTransaction): Error {
    return mapDatastoreError(error, {
      operation,
      description: this.description,
      ...(transaction === undefined ? {} : { transaction: transaction.id }),
    });
  }
}

/**
 * The library's `excludeFromIndexes` paths that unindex each property whatever its value: the
 * bare name marks a single value (an embedded entity at its root), `name[]` each value of an
 * array (the library skips an array for the bare name), and `.*` / `[].*` every sub-property
 * of an embedded entity, nested ones included. Datastore treats each sub-property's flag on
 * its own (a string over 1500 bytes inside an entity excluded only at its root is still
 * refused as too long to index, on the emulator too), so every value gets marked. Paths that
 * do not fit the value's shape are ignored by the library.
 */
function unindexedPaths(properties: readonly string[]): string[] {
  return properties.flatMap((p) => [p, `${p}[]`, `${p}.*`, `${p}[].*`]);
}

/** One inequality on `__key__`, against a key of the queried kind named `name`. */
interface KeyBound {
  readonly op: '>' | '>=' | '<';
  readonly name: string;
}

/**
 * The `__key__` inequalities that select `query.keyPrefix` and `query.startAfter`, or
 * `undefined` when no key can match. Both bounds go to Datastore as given (it takes several
 * inequalities on `__key__`), so nothing here depends on how the server orders names.
 * Names sent must themselves be valid key names: a prefix of the reserved form `__*__`
 * (which no key equals) starts at the prefix plus U+0000 instead, the next possible name;
 * when the prefix has no usable upper bound, the query reads on past it and the caller
 * stops at the first row without the prefix.
 */
function keyRangeOf(query: BackendQuery): KeyBound[] | undefined {
  const bounds: KeyBound[] = [];
  if (query.startAfter !== undefined) bounds.push({ op: '>', name: query.startAfter });
  const prefix = query.keyPrefix;
  if (prefix !== undefined && prefix !== '') {
    const lower = isReservedKeyName(prefix) ? `${prefix}\u0000` : prefix;
    // A 1500-byte reserved prefix: the only name starting with it is itself, reserved.
    if (Buffer.byteLength(lower, 'utf8') > MAX_KEY_NAME_BYTES) return undefined;
    bounds.push({ op: '>=', name: lower });
    const upper = prefixUpperBound(prefix);
    if (upper !== undefined) bounds.push({ op: '<', name: upper });
  }
  return bounds;
}

/**
 * The Objectify-like `EntityStore` on Google Cloud Datastore (also Firestore in
 * Datastore mode): {@link BackendEntityStore} over {@link DatastoreEntityBackend}, so
 * lookups are chunked to 1000 keys, non-transactional writes to 500 mutations per commit,
 * the ambient transaction gives read-your-writes, and `transact` retries on `ABORTED`.
 *
 * Keys are `[kind, name]` in the store's namespace (the `namespace` option, else the
 * client's). Values: whole numbers are stored as Datastore integers (JavaScript cannot tell
 * `3` from `3.0`, so a whole-valued double is an integer too and reads back as the same
 * number), other numbers as doubles, `-0` as a double so its sign survives; plain objects
 * as embedded entities, arrays as arrays, `Date` as timestamps (millisecond precision).
 * Properties a kind declares unindexed (`defineKind(name, { unindexed })`, see `KindOptions`)
 * and strings over 1500 bytes (`excludeLargeProperties`) are stored without an index, so
 * queries cannot filter on them. Integers are read wrapped: one outside the safe-integer
 * range (written by another client) fails the read with `OutOfRangeError` instead of being
 * rounded; blobs, keys and other Datastore-only values fail it with a `ShardcountError` of
 * code `UNSUPPORTED_VALUE`. `query` skips entities with numeric ids, which have no
 * shardcount key (so with a `limit`, such entities, which sort first, can make it return
 * fewer rows).
 *
 * Failures: `ABORTED` → `ContentionError` (retried by `transact`); `DEADLINE_EXCEEDED`,
 * `UNAVAILABLE`, `INTERNAL`, `UNKNOWN` or `CANCELLED` during a commit →
 * `AmbiguousCommitError` (never retried); any other failure → `StoreUnavailableError`, or
 * `LimitExceededError` when Datastore says the call was too big. The original error is the
 * `cause`. Every backend call is bounded by `callTimeoutMs` (default 20 s), the library's
 * own retries of lookups and queries on `UNAVAILABLE`/`DEADLINE_EXCEEDED` included: a call
 * that runs out of time fails like `DEADLINE_EXCEEDED` above, so a dead or hung Datastore
 * makes a load, query or transaction fail with `StoreUnavailableError` and a
 * non-transactional write or a transaction's commit with `AmbiguousCommitError` (a
 * refused connection fails a commit at once with `UNAVAILABLE`, also ambiguous) instead of
 * hanging. Once Datastore answers again, the same store works again; the first calls may
 * still fail while gRPC reconnects.
 *
 * A `signal` (see `StoreCallOptions` and `TransactOptions.signal`) gives up sooner than
 * `callTimeoutMs`: the store rejects at once and drops the Datastore call, which runs on in
 * the background (bounded by `callTimeoutMs`) with its result discarded; a transaction it
 * belonged to is rolled back, and a commit dropped in flight is an `AmbiguousCommitError`.
 * The `keyPrefix` and `startAfter` of `query` become inequality filters on `__key__` with
 * keys of the queried kind in the store's namespace (equality filters with them need no
 * composite index).
 *
 * `close()` closes the client passed in.
 *
 * @example
 * ```ts
 * import { Datastore } from '@google-cloud/datastore';
 * import { defineKind } from '@shardcount/storage';
 * import { DatastoreEntityStore } from '@shardcount/storage/datastore';
 *
 * interface Page { title: string; views: number }
 * const Pages = defineKind<Page>('Page');
 *
 * const store = new DatastoreEntityStore({ datastore: new Datastore(), namespace: 'prod' });
 * await store.transact(async () => {
 *   const page = await store.load(Pages.key('home'));
 *   await store.save(Pages.key('home'), { title: 'Home', views: (page?.views ?? 0) + 1 });
 * });
 * await store.close();
 * ```
 */
export class DatastoreEntityStore extends BackendEntityStore {
  /**
   * Creates a store over a caller-configured client; no I/O happens until the first call.
   *
   * @param options - the Datastore client, namespace, per-call timeout, retry policy and
   *   hooks; a field not declared by {@link DatastoreEntityStoreOptions} is refused with
   *   `InvalidArgumentError`
   */
  constructor(options: DatastoreEntityStoreOptions) {
    const { retry, onRetry, ...backendOptions } = readOptions(options, 'options', [
      ...BACKEND_OPTION_FIELDS,
      'retry',
      'onRetry',
    ]);
    super(
      new DatastoreEntityBackend(
        (options === undefined ? undefined : backendOptions) as DatastoreEntityBackendOptions,
      ),
      { retry, onRetry } as EntityStoreOptions,
    );
  }
}
