import memjs from 'memjs';
import { traceBackendCall } from '../diagnostics/tracing.js';
import type { StoreCallOptions } from '../entity/entity-store.js';
import { CacheUnavailableError, InvalidArgumentError, OutOfRangeError } from '../errors/index.js';
import { abortError, raceSignal } from '../operation/index.js';
import { assertObject, assertTimerMs, invalidArgument } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';
import {
  assertCacheKeys,
  assertCasToken,
  assertDelta,
  checkCallOptions,
  checkCounterOptions,
  checkWriteOptions,
  decodeCacheValue,
  encodeCacheValue,
} from './cache-arguments.js';
import type {
  CacheCounterOptions,
  CacheStore,
  CacheValue,
  CacheWriteOptions,
  CasEntry,
  CasToken,
} from './cache-store.js';
import { BACKEND_CALLS } from './cache-tracing.js';
import {
  type Admission,
  type Decode,
  MemcachedCall,
  type MemcachedCallOwner,
  type MemcachedOperation,
  type RoutedServer,
} from './memcached-call.js';
import { DeadlineSweep } from './memcached-deadlines.js';
import { toMemcachedKey } from './memcached-key.js';
import {
  buildCounterRequest,
  buildRequest,
  counterExtras,
  incrementInverse,
  type MemcachedResponse,
  NO_CREATE_EXPIRATION,
  Opcode,
  parseCas,
  readCas,
  readCounter,
  readSafeCounter,
  Status,
  storageExtras,
  toExpiration,
} from './memcached-protocol.js';
import { destroyServerSockets, guardMemjsServer } from './memcached-socket-guard.js';

/** Options shared by both ways of constructing a {@link MemcachedCacheStore}. */
export interface MemcachedCacheStoreCommonOptions {
  /**
   * Longest a call may take, in milliseconds, from the call to its answer (connecting
   * included). Past it the call fails with `CacheUnavailableError` and the connection to
   * that server is dropped, failing the other calls waiting on it, so the next call starts a
   * fresh one. Default 500.
   */
  readonly timeoutMs?: number;
  /**
   * Fail-fast window, in milliseconds. After a call to a server fails because it timed out or
   * its connection failed, calls routed to that server during the next `failFastMs` fail at
   * once with `CacheUnavailableError` (context `reason: 'fail-fast'`, `cause` the failure)
   * without sending anything, so a hung memcached costs callers one timeout per window
   * instead of one per call. The first call after the window is sent as a probe (other
   * calls to that server keep failing fast while it is in flight): if it fails the window
   * starts again, if it is answered the server is used as before. Answers such as "not
   * found" or "exists" are not failures. A whole number; 0 turns it off. Default 1000.
   */
  readonly failFastMs?: number;
}

/** Construct a {@link MemcachedCacheStore} that creates and owns its memjs client. */
export interface MemcachedServersOptions extends MemcachedCacheStoreCommonOptions {
  /**
   * memcached servers, comma-separated `host:port` (port defaults to 11211; memjs's
   * `user:pass@host:port` for SASL works too), e.g. `'10.0.0.3:11211,10.0.0.4:11211'`.
   * Keys are spread over them by memjs's hash of the (mapped) key.
   */
  readonly servers: string;
  /** Not with `servers`. */
  readonly client?: never;
}

/** Construct a {@link MemcachedCacheStore} over a memjs client the caller configured. */
export interface MemcachedClientOptions extends MemcachedCacheStoreCommonOptions {
  /**
   * A memjs 1.3.x client. The store sends its own binary-protocol requests through the
   * client's `perform`, so the client's serializer and default `expires` do not apply; its
   * `retries` do not either (the store never resends a request). The store patches each of
   * the client's servers so that connection failures cannot orphan a socket (see the class
   * docs), and {@link MemcachedCacheStore.close} drops the client's connections (memjs
   * reconnects if something else uses the client afterwards).
   */
  readonly client: memjs.Client;
  /** Not with `client`. */
  readonly servers?: never;
}

/** Options of {@link MemcachedCacheStore}: either `servers` or a memjs `client`. */
export type MemcachedCacheStoreOptions = MemcachedServersOptions | MemcachedClientOptions;

/** Default {@link MemcachedCacheStoreCommonOptions.timeoutMs}. */
export const DEFAULT_MEMCACHED_TIMEOUT_MS = 500;

/** Default {@link MemcachedCacheStoreCommonOptions.failFastMs}. */
export const DEFAULT_MEMCACHED_FAIL_FAST_MS = 1000;

const EMPTY = Buffer.alloc(0);
const silentLogger = { log(): void {} };

/** A server whose last call failed (timeout or connection failure). */
interface ServerFailure {
  /** When it failed, on the `performance.now()` clock, in milliseconds. */
  atMs: number;
  /** The failure, the cause of the fail-fast errors. */
  error: unknown;
  /** Whether a probe call to it is in flight. */
  probing: boolean;
}

/**
 * The {@link CacheStore} over memcached, speaking the binary protocol through memjs.
 *
 * - Values are stored as JSON text (an integer as its digits, so `incr`/`decr` work on it),
 *   with flags 0.
 * - `gets`/`cas` use the CAS value of the binary protocol, which memjs does not expose: the
 *   store builds those requests itself and sends them through memjs's `perform`.
 * - `incr`/`decr` read the server's 64-bit result exactly; a result past
 *   `Number.MAX_SAFE_INTEGER` is undone at once (the server has applied it) and reported as
 *   `OutOfRangeError`. With `initial`, a missing key is created holding `initial + delta`
 *   (`max(initial - delta, 0)` for `decr`) in the same round trip.
 * - Keys memcached cannot take (over 250 bytes, spaces, control or non-ASCII characters) are
 *   mapped by `toMemcachedKey` to `sc~` + SHA-256; results always come back under the
 *   caller's keys.
 * - TTLs over 30 days are sent as absolute unix times, as memcached requires.
 * - Every call settles within `timeoutMs`: a stopped, hung or restarted memcached makes
 *   calls fail with `CacheUnavailableError` (a refused connection at once), and once it is
 *   back the same store works again. No request is ever resent, so a timed-out write may
 *   or may not have been applied.
 * - After such a failure, calls to that server fail at once for `failFastMs` (default
 *   1000), then one call probes it; calls to other servers are not affected. `getMany`
 *   fails (at once) when any of its keys' servers is in its window, as it fails when any
 *   of them does not answer.
 *
 * @example
 * ```ts
 * const cache = new MemcachedCacheStore({ servers: '127.0.0.1:11211', timeoutMs: 200 });
 * await cache.set('greeting', { text: 'hello' }, { ttlSeconds: 60 });
 * const entry = await cache.gets<{ text: string }>('greeting');
 * if (entry && !(await cache.cas('greeting', { text: 'hi' }, entry.cas))) {
 *   // someone else wrote it between our gets and cas
 * }
 * await cache.incr('page-views', 1, { initial: 0 }); // 1 the first time
 * await cache.close();
 * ```
 */
export class MemcachedCacheStore implements CacheStore {
  readonly #client: memjs.Client;
  readonly #timeoutMs: number;
  readonly #failFastMs: number;
  /** Servers in (or probing at the end of) a fail-fast window; healthy ones are absent. */
  readonly #failures = new Map<memjs.Server, ServerFailure>();
  /** Deadlines of the calls in flight, swept by one timer instead of a timer per call. */
  readonly #deadlines = new DeadlineSweep();
  /** What the calls in flight need of this store. */
  readonly #owner: MemcachedCallOwner;
  #closed = false;

  /**
   * @param options - `servers` (the store creates its client) or `client`, `timeoutMs` and
   * `failFastMs`
   * @throws InvalidArgumentError when the options are malformed
   */
  constructor(options: MemcachedCacheStoreOptions) {
    if (options === undefined) {
      throw invalidArgument('options', 'an options object with servers or client', options);
    }
    const fields = readOptions(options, 'options', [
      'servers',
      'client',
      'timeoutMs',
      'failFastMs',
    ]);
    const timeoutMs =
      fields.timeoutMs === undefined ? DEFAULT_MEMCACHED_TIMEOUT_MS : fields.timeoutMs;
    // A timer longer than 2^31 - 1 ms fires after 1 ms.
    assertTimerMs(timeoutMs, 'options.timeoutMs', 1);
    this.#timeoutMs = timeoutMs;
    const failFastMs =
      fields.failFastMs === undefined ? DEFAULT_MEMCACHED_FAIL_FAST_MS : fields.failFastMs;
    assertTimerMs(failFastMs, 'options.failFastMs', 0);
    this.#failFastMs = failFastMs;
    if (fields.client !== undefined && fields.servers !== undefined) {
      throw new InvalidArgumentError(
        'Pass either servers or client to MemcachedCacheStore, not both.',
        { context: { argument: 'options.client' } },
      );
    }
    if (fields.client !== undefined) {
      assertObject(fields.client, 'options.client');
      this.#client = fields.client as memjs.Client;
    } else if (fields.servers !== undefined) {
      const servers = fields.servers;
      assertServers(servers);
      // memjs's own timeouts are only a backstop behind ours; it never retries, never logs.
      const memjsTimeoutSeconds = (2 * timeoutMs) / 1000;
      this.#client = memjs.Client.create(servers, {
        logger: silentLogger,
        retries: 1,
        timeout: memjsTimeoutSeconds,
        conntimeout: memjsTimeoutSeconds,
      });
    } else {
      throw new InvalidArgumentError('MemcachedCacheStore needs servers or client.', {
        context: { argument: 'options.servers' },
      });
    }
    for (const server of this.#client.servers) guardMemjsServer(server);
    this.#owner = {
      timeoutMs,
      deadlines: this.#deadlines,
      settled: (server, admission, error) => this.#settled(server, admission, error),
    };
  }

  /** The timeout every call is bounded by, in milliseconds. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The fail-fast window after a server failed, in milliseconds (0: off). */
  get failFastMs(): number {
    return this.#failFastMs;
  }

  // Each verb validates, then sends, inside one try: whatever is wrong (an argument, a closed
  // store, a server in its fail-fast window) comes back as a rejected promise, never a throw.
  // None is `async`: the result is decoded in memjs's callback and the call's own promise is
  // returned, so a call costs one promise (the hot path of counters and version checks).

  get<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<V | undefined> {
    try {
      const memcachedKey = toMemcachedKey(key);
      const signal = options === undefined ? undefined : checkCallOptions(options);
      this.#assertOpen();
      const seq = this.#nextSeq();
      const request = buildRequest(Opcode.get, memcachedKey, EMPTY, EMPTY, seq);
      return this.#send('get', key, memcachedKey, request, seq, decodeValue<V>, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
    options?: StoreCallOptions,
  ): Promise<Map<string, V>> {
    try {
      assertCacheKeys(keys);
      const signal = options === undefined ? undefined : checkCallOptions(options);
      this.#assertOpen();
      if (signal?.aborted === true) throw abortError(signal, { operation: 'getMany' });
      // Traced as one call (`mget`), not one per key.
      const read = BACKEND_CALLS.hasSubscribers
        ? traceBackendCall('memcached', 'mget', new Set(keys).size, () => this.#getMany<V>(keys))
        : this.#getMany<V>(keys);
      // One listener for the whole batch; the answers still come and are dropped.
      return signal === undefined ? read : raceSignal(read, signal, { operation: 'getMany' });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  gets<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<CasEntry<V> | undefined> {
    try {
      const memcachedKey = toMemcachedKey(key);
      const signal = options === undefined ? undefined : checkCallOptions(options);
      this.#assertOpen();
      const seq = this.#nextSeq();
      const request = buildRequest(Opcode.get, memcachedKey, EMPTY, EMPTY, seq);
      return this.#send('gets', key, memcachedKey, request, seq, decodeCasEntry<V>, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options?: CacheWriteOptions,
  ): Promise<boolean> {
    try {
      const memcachedKey = toMemcachedKey(key);
      const { ttlSeconds, signal } = checkWriteOptions(options);
      const body = encodeBody(key, value);
      assertCasToken(cas, key);
      this.#assertOpen();
      const version = parseCas(cas);
      // A token gets never returns names no version, so it can never match.
      if (version === undefined) return Promise.resolve(false);
      const seq = this.#nextSeq();
      const extras = storageExtras(toExpiration(ttlSeconds));
      const request = buildRequest(Opcode.set, memcachedKey, extras, body, seq, version);
      return this.#send('cas', key, memcachedKey, request, seq, decodeCas, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  add(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<boolean> {
    try {
      const memcachedKey = toMemcachedKey(key);
      const { ttlSeconds, signal } = checkWriteOptions(options);
      const body = encodeBody(key, value);
      this.#assertOpen();
      const seq = this.#nextSeq();
      const extras = storageExtras(toExpiration(ttlSeconds));
      const request = buildRequest(Opcode.add, memcachedKey, extras, body, seq);
      return this.#send('add', key, memcachedKey, request, seq, decodeAdd, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  set(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<void> {
    try {
      const memcachedKey = toMemcachedKey(key);
      const { ttlSeconds, signal } = checkWriteOptions(options);
      const body = encodeBody(key, value);
      this.#assertOpen();
      const seq = this.#nextSeq();
      const extras = storageExtras(toExpiration(ttlSeconds));
      const request = buildRequest(Opcode.set, memcachedKey, extras, body, seq);
      return this.#send('set', key, memcachedKey, request, seq, decodeSet, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  incr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    return this.#count('incr', key, delta, options);
  }

  decr(key: string, delta: number, options?: CacheCounterOptions): Promise<number | undefined> {
    return this.#count('decr', key, delta, options);
  }

  delete(key: string, options?: StoreCallOptions): Promise<boolean> {
    try {
      const memcachedKey = toMemcachedKey(key);
      const signal = options === undefined ? undefined : checkCallOptions(options);
      this.#assertOpen();
      const seq = this.#nextSeq();
      const request = buildRequest(Opcode.delete, memcachedKey, EMPTY, EMPTY, seq);
      return this.#send('delete', key, memcachedKey, request, seq, decodeDelete, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Waits for the calls in flight (each ends within `timeoutMs`), then closes every
   * connection of the client, so the process can exit. Later calls fail with
   * `InvalidArgumentError`. Calling it again does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#deadlines.idle();
    for (const server of this.#client.servers) {
      destroyServerSockets(server, new Error('MemcachedCacheStore closed'));
    }
  }

  async #getMany<V extends CacheValue>(keys: readonly string[]): Promise<Map<string, V>> {
    const unique = [...new Set(keys)];
    const memcachedKeys = unique.map(toMemcachedKey);
    // One answer missing fails the whole call, so a key whose server is in its fail-fast
    // window fails it before anything is sent; a server past its window is probed with all
    // of its keys.
    const routes = memcachedKeys.map((memcachedKey) => this.#client.server(memcachedKey));
    const admissions = new Map<RoutedServer, Admission>();
    if (this.#failures.size > 0) {
      const firstKeys = new Map<RoutedServer, string>();
      unique.forEach((key, i) => {
        if (!firstKeys.has(routes[i])) firstKeys.set(routes[i], key);
      });
      for (const [server, key] of firstKeys) this.#failFast('getMany', key, server);
      for (const [server, key] of firstKeys) {
        admissions.set(server, this.#admit('getMany', key, server));
      }
    }
    // Requests go out back to back on each server's connection (pipelined), answers are
    // matched by their opaque sequence number.
    const values = await Promise.all(
      unique.map((key, i) => {
        const memcachedKey = memcachedKeys[i] as string;
        const seq = this.#nextSeq();
        const request = buildRequest(Opcode.get, memcachedKey, EMPTY, EMPTY, seq);
        const admission = admissions.get(routes[i]) ?? 'healthy';
        const decode = decodeValue<V>;
        return this.#send('getMany', key, memcachedKey, request, seq, decode, undefined, admission);
      }),
    );
    const found = new Map<string, V>();
    unique.forEach((key, i) => {
      const value = values[i];
      if (value !== undefined) found.set(key, value);
    });
    return found;
  }

  #count(
    operation: 'incr' | 'decr',
    key: string,
    delta: number,
    options: CacheCounterOptions | undefined,
  ): Promise<number | undefined> {
    try {
      const memcachedKey = toMemcachedKey(key);
      assertDelta(delta);
      const { initial, ttlSeconds, signal } = checkCounterOptions(options);
      this.#assertOpen();
      // memcached stores `initial` as it is when the key is missing: send the value the
      // contract wants the new counter to hold, unless that is not a safe integer.
      let created: number | undefined;
      if (initial !== undefined) {
        created = operation === 'incr' ? initial + delta : Math.max(initial - delta, 0);
      }
      const canCreate = created !== undefined && Number.isSafeInteger(created);
      const expiration = canCreate ? toExpiration(ttlSeconds) : NO_CREATE_EXPIRATION;
      const opcode = operation === 'incr' ? Opcode.increment : Opcode.decrement;
      const seq = this.#nextSeq();
      const request = buildCounterRequest(
        opcode,
        memcachedKey,
        delta,
        canCreate ? (created as number) : 0,
        expiration,
        seq,
      );
      const decode = (response: MemcachedResponse): number | undefined | Promise<never> => {
        // The hot path: answered, and the value is a safe integer.
        if (response.header.status === Status.ok) {
          const safe = readSafeCounter(response);
          if (safe !== undefined) return safe;
        }
        return this.#counterAnswer(operation, key, delta, initial, created, response);
      };
      return this.#send(operation, key, memcachedKey, request, seq, decode, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Every answer of `incr`/`decr` but a safe new value: missing key, refusals, overflow. */
  #counterAnswer(
    operation: 'incr' | 'decr',
    key: string,
    delta: number,
    initial: number | undefined,
    created: number | undefined,
    response: MemcachedResponse,
  ): undefined | Promise<never> {
    switch (response.header.status) {
      case Status.ok:
        return this.#undoOverflow(operation, key, delta, readCounter(response));
      case Status.keyNotFound:
        if (created === undefined) return undefined;
        throw new OutOfRangeError(
          `Cannot create counter at cache key "${key}" holding ${initial} ${operation === 'incr' ? '+' : '-'} ${delta}: it would pass Number.MAX_SAFE_INTEGER.`,
          { context: { key, operation, argument: 'delta' } },
        );
      case Status.nonNumeric:
        throw new InvalidArgumentError(
          `Cannot ${operation} cache key "${key}": its value is not a non-negative integer.`,
          { context: { key, operation, argument: 'delta' } },
        );
      default:
        throw statusError(operation, key, response);
    }
  }

  /**
   * A counter went past `Number.MAX_SAFE_INTEGER` (memcached computed `value`): the server
   * has applied it, so undo it (increments wrap modulo 2^64, so adding the inverse restores
   * the old value even when other calls ran in between) and fail with `OutOfRangeError`.
   */
  async #undoOverflow(
    operation: 'incr' | 'decr',
    key: string,
    delta: number,
    value: bigint,
  ): Promise<never> {
    const undo =
      operation === 'incr'
        ? counterExtras(incrementInverse(BigInt(delta)), 0n, NO_CREATE_EXPIRATION)
        : counterExtras(BigInt(delta), 0n, NO_CREATE_EXPIRATION);
    let undoError: unknown;
    if (delta !== 0) {
      try {
        const memcachedKey = toMemcachedKey(key);
        const seq = this.#nextSeq();
        const request = buildRequest(Opcode.increment, memcachedKey, undo, EMPTY, seq);
        const undone = await this.#send(operation, key, memcachedKey, request, seq, identity);
        if (undone.header.status !== Status.ok) undoError = statusError(operation, key, undone);
      } catch (error) {
        undoError = error;
      }
    }
    const outcome =
      delta === 0
        ? 'it already held that value; nothing was changed.'
        : undoError === undefined
          ? 'the change was undone.'
          : 'undoing the change failed, so the entry holds that value.';
    throw new OutOfRangeError(
      `Counter at cache key "${key}" would pass Number.MAX_SAFE_INTEGER (memcached computed ${value}); ${outcome}`,
      {
        context: { key, operation, argument: 'delta' },
        ...(undoError === undefined ? {} : { cause: undoError }),
      },
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidArgumentError('This MemcachedCacheStore has been closed.');
  }

  /** The opaque number of the next request (memjs's sequence, shared with its own calls). */
  #nextSeq(): number {
    const client = this.#client;
    client.incrSeq();
    return client.seq;
  }

  /**
   * Throws the fail-fast `CacheUnavailableError` when `server` is in its fail-fast window or
   * is being probed; changes nothing.
   */
  #failFast(operation: MemcachedOperation, key: string, server: RoutedServer): void {
    const failure = server ? this.#failures.get(server) : undefined;
    if (failure === undefined || !server) return;
    const sinceMs = performance.now() - failure.atMs;
    if (sinceMs >= this.#failFastMs && !failure.probing) return;
    const name = `${server.host}:${server.port}`;
    const why =
      sinceMs < this.#failFastMs
        ? `it failed within the last ${this.#failFastMs} ms`
        : `it failed and a call probing whether it is back has not settled yet`;
    throw new CacheUnavailableError(
      `memcached ${operation} of cache key "${key}" failed fast, nothing sent: server ${name} is skipped because ${why} (${describeFailure(failure.error)}).`,
      {
        context: {
          operation,
          key,
          reason: 'fail-fast',
          server: name,
          failFastMs: this.#failFastMs,
        },
        cause: failure.error,
      },
    );
  }

  /**
   * Lets a call reach `server`: throws as {@link #failFast} does, else tells whether the call
   * is the probe that ends the server's fail-fast window (and marks the probe in flight).
   */
  #admit(operation: MemcachedOperation, key: string, server: RoutedServer): Admission {
    // Every server healthy: the common case, one size check.
    if (this.#failures.size === 0) return 'healthy';
    this.#failFast(operation, key, server);
    const failure = server ? this.#failures.get(server) : undefined;
    if (failure === undefined) return 'healthy';
    failure.probing = true;
    return 'probe';
  }

  /** Records how a request to `server` ended, opening, restarting or closing its window. */
  #settled(server: RoutedServer, admission: Admission, error: unknown): void {
    if (!server || this.#failFastMs === 0) return;
    const failure = this.#failures.get(server);
    if (error === undefined) {
      if (admission === 'probe') this.#failures.delete(server);
      return;
    }
    if (failure === undefined) {
      this.#failures.set(server, { atMs: performance.now(), error, probing: false });
      return;
    }
    failure.atMs = performance.now();
    failure.error = error;
    if (admission === 'probe') failure.probing = false;
  }

  /**
   * Sends `request` (opaque `seq`) for the caller's `key` through memjs's `perform` and
   * settles with `decode` of the response. Rejects with `CacheUnavailableError` when the
   * connection fails or no answer comes within the timeout (a late answer is dropped), and
   * at once, sending nothing, when the key's server is in its fail-fast window or `signal`
   * has aborted; a `signal` aborting later abandons the call (see {@link MemcachedCall}).
   * `admission` is given when the caller has already admitted the call (`getMany`). The
   * timeout is a deadline in the store's {@link DeadlineSweep}, not a timer per call: on the
   * hot path a call costs a `performance.now()` and an array push, and one timer serves
   * every call in flight. Throws (the verbs turn it into a rejection) what fails before sending.
   */
  #send<R>(
    operation: MemcachedOperation,
    key: string,
    memcachedKey: string,
    request: Buffer,
    seq: number,
    decode: Decode<R>,
    signal?: AbortSignal,
    admission?: Admission,
  ): Promise<R> {
    // Traced on storage's backend-call channel, except getMany's requests (traced as one
    // `mget`, they come admitted). Nobody listening: one property read, no closure.
    if (BACKEND_CALLS.hasSubscribers && admission === undefined) {
      return traceBackendCall('memcached', operation, undefined, () =>
        this.#sendNow(operation, key, memcachedKey, request, seq, decode, signal, admission),
      );
    }
    return this.#sendNow(operation, key, memcachedKey, request, seq, decode, signal, admission);
  }

  #sendNow<R>(
    operation: MemcachedOperation,
    key: string,
    memcachedKey: string,
    request: Buffer,
    seq: number,
    decode: Decode<R>,
    signal: AbortSignal | undefined,
    admission: Admission | undefined,
  ): Promise<R> {
    if (signal?.aborted === true) throw abortError(signal, { operation, key });
    const client = this.#client;
    const server = client.server(memcachedKey);
    const admitted = admission ?? this.#admit(operation, key, server);
    const call = new MemcachedCall<R>(this.#owner, operation, key, server, admitted, decode);
    try {
      // retries = 1: memjs must not resend (an incr resent after a lost answer counts twice).
      client.perform(memcachedKey, request, seq, call.callback, 1);
    } catch (error) {
      call.callback(error instanceof Error ? error : new Error(String(error)));
    }
    if (signal !== undefined) call.watch(signal);
    return call.promise;
  }
}

/** The value of a `get`: `undefined` when the key is missing. */
function decodeValue<V extends CacheValue>(
  response: MemcachedResponse,
  call: MemcachedCall<V | undefined>,
): V | undefined {
  switch (response.header.status) {
    case Status.ok:
      return decodeCacheValue(response.val.toString('utf8')) as V;
    case Status.keyNotFound:
      return undefined;
    default:
      throw statusError(call.operation, call.key, response);
  }
}

/** The value and CAS token of a `gets`. */
function decodeCasEntry<V extends CacheValue>(
  response: MemcachedResponse,
  call: MemcachedCall<CasEntry<V> | undefined>,
): CasEntry<V> | undefined {
  if (response.header.status === Status.keyNotFound) return undefined;
  if (response.header.status !== Status.ok) throw statusError('gets', call.key, response);
  const value = decodeCacheValue(response.val.toString('utf8')) as V;
  const cas = readCas(response);
  if (cas === 0n) {
    // CAS 0 means "no check" on writes: a token of 0 would make cas() a blind set.
    throw new CacheUnavailableError(
      'memcached answered without a CAS value: it runs with CAS disabled (-C), so gets/cas cannot work.',
      { context: { operation: 'gets', key: call.key } },
    );
  }
  return { value, cas: cas.toString() as CasToken };
}

function decodeCas(response: MemcachedResponse, call: MemcachedCall<boolean>): boolean {
  switch (response.header.status) {
    case Status.ok:
      return true;
    case Status.keyExists:
    case Status.keyNotFound:
    case Status.itemNotStored:
      return false;
    default:
      throw statusError('cas', call.key, response);
  }
}

function decodeAdd(response: MemcachedResponse, call: MemcachedCall<boolean>): boolean {
  switch (response.header.status) {
    case Status.ok:
      return true;
    case Status.keyExists:
    case Status.itemNotStored:
      return false;
    default:
      throw statusError('add', call.key, response);
  }
}

function decodeSet(response: MemcachedResponse, call: MemcachedCall<void>): void {
  if (response.header.status !== Status.ok) throw statusError('set', call.key, response);
}

function decodeDelete(response: MemcachedResponse, call: MemcachedCall<boolean>): boolean {
  switch (response.header.status) {
    case Status.ok:
      return true;
    case Status.keyNotFound:
      return false;
    default:
      throw statusError('delete', call.key, response);
  }
}

/** The response itself, whatever its status. */
function identity(response: MemcachedResponse): MemcachedResponse {
  return response;
}

/** A value's bytes as stored: its JSON text, checked. */
function encodeBody(key: string, value: CacheValue): Buffer {
  return Buffer.from(encodeCacheValue(key, value), 'utf8');
}

/** The error for a status the operation does not expect. */
function statusError(
  operation: MemcachedOperation,
  key: string,
  response: MemcachedResponse,
): CacheUnavailableError | InvalidArgumentError {
  const status = response.header.status;
  const detail = response.val.toString('utf8').slice(0, 200);
  const message = `memcached answered ${operation} of cache key "${key}" with status 0x${status.toString(16).padStart(4, '0')}${detail ? ` (${detail})` : ''}.`;
  const options = { context: { operation, key, status } };
  // The value fits our limit but not this server's item size (-I): the argument is at fault.
  if (status === Status.valueTooLarge) return new InvalidArgumentError(message, options);
  return new CacheUnavailableError(message, options);
}

/** The message of a failure, for a fail-fast error's message. */
function describeFailure(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function assertServers(servers: unknown): asserts servers is string {
  if (typeof servers !== 'string' || servers.trim() === '') {
    throw invalidArgument('options.servers', 'a non-empty "host:port[,host:port]" string', servers);
  }
  for (const entry of servers.split(',')) {
    const hostPort = entry.slice(entry.lastIndexOf('@') + 1);
    const match = /^([^:\s]+)(?::(\d+))?$/.exec(hostPort);
    const port = match?.[2] === undefined ? 11211 : Number(match[2]);
    if (match === null || port < 1 || port > 65535) {
      throw new InvalidArgumentError(
        `servers entry "${entry}" is not host:port with a port from 1 to 65535.`,
        { context: { argument: 'options.servers' } },
      );
    }
  }
}
