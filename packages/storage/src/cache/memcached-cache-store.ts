import memjs from 'memjs';
import { CacheUnavailableError, InvalidArgumentError, OutOfRangeError } from '../errors/index.js';
import { assertObject, assertTimerMs, invalidArgument } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';
import {
  assertCacheKey,
  assertCacheKeys,
  assertCasToken,
  assertDelta,
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

type Operation = 'get' | 'getMany' | 'gets' | 'cas' | 'add' | 'set' | 'incr' | 'decr' | 'delete';

/** A server whose last call failed (timeout or connection failure). */
interface ServerFailure {
  /** When it failed, on the `performance.now()` clock, in milliseconds. */
  atMs: number;
  /** The failure, the cause of the fail-fast errors. */
  error: unknown;
  /** Whether a probe call to it is in flight. */
  probing: boolean;
}

/** The server memjs routes a key to; none when every server is marked down by memjs's failover. */
type RoutedServer = memjs.Server | null | undefined;

/** How a call may reach a server: as usual, or as the probe that ends a fail-fast window. */
type Admission = 'healthy' | 'probe';

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
  }

  /** The timeout every call is bounded by, in milliseconds. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The fail-fast window after a server failed, in milliseconds (0: off). */
  get failFastMs(): number {
    return this.#failFastMs;
  }

  async get<V extends CacheValue = CacheValue>(key: string): Promise<V | undefined> {
    assertCacheKey(key);
    this.#assertOpen();
    const response = await this.#request('get', key, Opcode.get, EMPTY, EMPTY);
    return this.#readValue<V>('get', key, response);
  }

  async getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
  ): Promise<Map<string, V>> {
    assertCacheKeys(keys);
    this.#assertOpen();
    const unique = [...new Set(keys)];
    // One answer missing fails the whole call, so a key whose server is in its fail-fast
    // window fails it before anything is sent; a server past its window is probed with all
    // of its keys.
    const routes = unique.map((key) => this.#client.server(toMemcachedKey(key)));
    const firstKeys = new Map<RoutedServer, string>();
    unique.forEach((key, i) => {
      if (!firstKeys.has(routes[i])) firstKeys.set(routes[i], key);
    });
    for (const [server, key] of firstKeys) this.#failFast('getMany', key, server);
    const admissions = new Map<RoutedServer, Admission>();
    for (const [server, key] of firstKeys) {
      admissions.set(server, this.#admit('getMany', key, server));
    }
    // Requests go out back to back on each server's connection (pipelined), answers are
    // matched by their opaque sequence number.
    const responses = await Promise.all(
      unique.map((key, i) => {
        const admission = admissions.get(routes[i]) ?? 'healthy';
        return this.#request('getMany', key, Opcode.get, EMPTY, EMPTY, undefined, admission);
      }),
    );
    const found = new Map<string, V>();
    unique.forEach((key, i) => {
      const value = this.#readValue<V>('getMany', key, responses[i]!);
      if (value !== undefined) found.set(key, value);
    });
    return found;
  }

  async gets<V extends CacheValue = CacheValue>(key: string): Promise<CasEntry<V> | undefined> {
    assertCacheKey(key);
    this.#assertOpen();
    const response = await this.#request('gets', key, Opcode.get, EMPTY, EMPTY);
    const value = this.#readValue<V>('gets', key, response);
    if (value === undefined) return undefined;
    const cas = readCas(response);
    if (cas === 0n) {
      // CAS 0 means "no check" on writes: a token of 0 would make cas() a blind set.
      throw new CacheUnavailableError(
        'memcached answered without a CAS value: it runs with CAS disabled (-C), so gets/cas cannot work.',
        { context: { operation: 'gets', key } },
      );
    }
    return { value, cas: cas.toString() as CasToken };
  }

  async cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options: CacheWriteOptions = {},
  ): Promise<boolean> {
    const { body, ttlSeconds } = this.#checkWrite(key, value, options);
    assertCasToken(cas, key);
    this.#assertOpen();
    const version = parseCas(cas);
    // A token gets never returns names no version, so it can never match.
    if (version === undefined) return false;
    const extras = storageExtras(toExpiration(ttlSeconds));
    const response = await this.#request('cas', key, Opcode.set, extras, body, version);
    switch (response.header.status) {
      case Status.ok:
        return true;
      case Status.keyExists:
      case Status.keyNotFound:
      case Status.itemNotStored:
        return false;
      default:
        throw statusError('cas', key, response);
    }
  }

  async add(key: string, value: CacheValue, options: CacheWriteOptions = {}): Promise<boolean> {
    const { body, ttlSeconds } = this.#checkWrite(key, value, options);
    this.#assertOpen();
    const extras = storageExtras(toExpiration(ttlSeconds));
    const response = await this.#request('add', key, Opcode.add, extras, body);
    switch (response.header.status) {
      case Status.ok:
        return true;
      case Status.keyExists:
      case Status.itemNotStored:
        return false;
      default:
        throw statusError('add', key, response);
    }
  }

  async set(key: string, value: CacheValue, options: CacheWriteOptions = {}): Promise<void> {
    const { body, ttlSeconds } = this.#checkWrite(key, value, options);
    this.#assertOpen();
    const extras = storageExtras(toExpiration(ttlSeconds));
    const response = await this.#request('set', key, Opcode.set, extras, body);
    if (response.header.status !== Status.ok) throw statusError('set', key, response);
  }

  incr(key: string, delta: number, options: CacheCounterOptions = {}): Promise<number | undefined> {
    return this.#count('incr', key, delta, options);
  }

  decr(key: string, delta: number, options: CacheCounterOptions = {}): Promise<number | undefined> {
    return this.#count('decr', key, delta, options);
  }

  async delete(key: string): Promise<boolean> {
    assertCacheKey(key);
    this.#assertOpen();
    const response = await this.#request('delete', key, Opcode.delete, EMPTY, EMPTY);
    switch (response.header.status) {
      case Status.ok:
        return true;
      case Status.keyNotFound:
        return false;
      default:
        throw statusError('delete', key, response);
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

  async #count(
    operation: 'incr' | 'decr',
    key: string,
    delta: number,
    options: CacheCounterOptions,
  ): Promise<number | undefined> {
    assertCacheKey(key);
    assertDelta(delta);
    const checked = checkCounterOptions(options);
    const { initial } = checked;
    this.#assertOpen();

    // memcached stores `initial` as it is when the key is missing: send the value the
    // contract wants the new counter to hold, unless that is not a safe integer.
    let created: number | undefined;
    if (initial !== undefined) {
      created = operation === 'incr' ? initial + delta : Math.max(initial - delta, 0);
    }
    const canCreate = created !== undefined && Number.isSafeInteger(created);
    const expiration = canCreate ? toExpiration(checked.ttlSeconds) : NO_CREATE_EXPIRATION;
    const opcode = operation === 'incr' ? Opcode.increment : Opcode.decrement;
    const initialValue = canCreate ? (created as number) : 0;
    const response = await this.#send(operation, key, undefined, (memcachedKey, seq) =>
      buildCounterRequest(opcode, memcachedKey, delta, initialValue, expiration, seq),
    );
    switch (response.header.status) {
      case Status.ok:
        break;
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
    const safe = readSafeCounter(response);
    if (safe !== undefined) return safe;
    const value = readCounter(response);

    // The server has applied it; undo it (increments wrap modulo 2^64, so adding the
    // inverse restores the old value even when other calls ran in between).
    const undo =
      operation === 'incr'
        ? counterExtras(incrementInverse(BigInt(delta)), 0n, NO_CREATE_EXPIRATION)
        : counterExtras(BigInt(delta), 0n, NO_CREATE_EXPIRATION);
    let undoError: unknown;
    if (delta !== 0) {
      try {
        const undone = await this.#request(operation, key, Opcode.increment, undo, EMPTY);
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

  /** Validates a write's arguments before any I/O and returns the value's bytes. */
  #checkWrite(
    key: string,
    value: CacheValue,
    options: CacheWriteOptions,
  ): { readonly body: Buffer; readonly ttlSeconds: number | undefined } {
    assertCacheKey(key);
    const { ttlSeconds } = checkWriteOptions(options);
    return { body: Buffer.from(encodeCacheValue(key, value), 'utf8'), ttlSeconds };
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidArgumentError('This MemcachedCacheStore has been closed.');
  }

  #readValue<V extends CacheValue>(
    operation: Operation,
    key: string,
    response: MemcachedResponse,
  ): V | undefined {
    switch (response.header.status) {
      case Status.ok:
        return decodeCacheValue(response.val.toString('utf8')) as V;
      case Status.keyNotFound:
        return undefined;
      default:
        throw statusError(operation, key, response);
    }
  }

  /**
   * Throws the fail-fast `CacheUnavailableError` when `server` is in its fail-fast window or
   * is being probed; changes nothing.
   */
  #failFast(operation: Operation, key: string, server: RoutedServer): void {
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
  #admit(operation: Operation, key: string, server: RoutedServer): Admission {
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

  /** Sends one request built from its parts; see {@link MemcachedCacheStore.#send}. */
  #request(
    operation: Operation,
    key: string,
    opcode: number,
    extras: Buffer,
    value: Buffer,
    cas?: bigint,
    admission?: Admission,
  ): Promise<MemcachedResponse> {
    return this.#send(operation, key, admission, (memcachedKey, seq) =>
      buildRequest(opcode, memcachedKey, extras, value, seq, cas),
    );
  }

  /**
   * Sends one request for the caller's `key` through memjs's `perform` and resolves with the
   * response, whatever its status. Rejects with `CacheUnavailableError` when the connection
   * fails or no answer comes within the timeout (a late answer is dropped), and at once,
   * sending nothing, when the key's server is in its fail-fast window. `admission` is given
   * when the caller has already admitted the call (`getMany`). The timeout is a deadline in
   * the store's {@link DeadlineSweep}, not a timer per call: on the hot path a call costs a
   * `performance.now()` and an array push, and one timer serves every call in flight.
   */
  #send(
    operation: Operation,
    key: string,
    admission: Admission | undefined,
    build: (memcachedKey: string, seq: number) => Buffer,
  ): Promise<MemcachedResponse> {
    const client = this.#client;
    const memcachedKey = toMemcachedKey(key);
    const server = client.server(memcachedKey);
    const admitted = admission ?? this.#admit(operation, key, server);
    const timeoutMs = this.#timeoutMs;
    const deadlines = this.#deadlines;
    return new Promise<MemcachedResponse>((resolve, reject) => {
      const call: TimedCall = {
        deadline: performance.now() + timeoutMs,
        settled: false,
        expire: () => {
          const error = new CacheUnavailableError(
            `memcached did not answer ${operation} within ${timeoutMs} ms.`,
            { context: { operation, key } },
          );
          this.#settled(server, admitted, error);
          // The connection may be dead without memjs noticing (no FIN, a half-read answer):
          // drop it so the next call reconnects instead of waiting on it too.
          if (server) {
            destroyServerSockets(
              server,
              new Error(`connection dropped after a ${operation} call timed out`),
            );
          }
          reject(error);
        },
      };
      // memjs's callback; also called with the error when sending throws.
      const settle = (error: Error | null, response?: MemcachedResponse | null): void => {
        if (call.settled) return;
        deadlines.done(call);
        if (error !== null || response === null || response === undefined) {
          const failure = new CacheUnavailableError(
            `memcached ${operation} failed: ${error?.message ?? 'no response'}`,
            { context: { operation, key }, cause: error },
          );
          this.#settled(server, admitted, failure);
          reject(failure);
        } else {
          if (admitted === 'probe') this.#settled(server, admitted, undefined);
          resolve(response);
        }
      };
      deadlines.add(call);
      try {
        client.incrSeq();
        const seq = client.seq;
        // retries = 1: memjs must not resend (an incr resent after a lost answer counts twice).
        client.perform(memcachedKey, build(memcachedKey, seq), seq, settle, 1);
      } catch (error) {
        settle(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }
}

/** A call in flight, as {@link DeadlineSweep} tracks it. */
interface TimedCall {
  /** When it times out, on the `performance.now()` clock, in milliseconds. */
  readonly deadline: number;
  /** Whether it has been answered, failed or expired. */
  settled: boolean;
  /** Fails the call for its timeout (called once, after `settled` is set). */
  readonly expire: () => void;
}

/** Compact the queue once this many settled calls sit at its head. */
const COMPACT_AFTER = 1024;

/**
 * The per-call timeouts of one store, with one timer. Every call of a store has the same
 * timeout, so deadlines arrive in order: calls are appended to a queue, answered ones are
 * only flagged, and a single timer, set for the oldest unanswered call's deadline, expires
 * what is due and re-arms for the next. A call therefore still fails at its own deadline,
 * but the hot path sets no timer and clears none (a timer per call was most of the store's
 * overhead over raw memjs). The timer is unreferenced: it never keeps a process alive on its
 * own, and need not, since a call in flight always has its memjs socket (connecting or
 * connected) holding the event loop, and a socket that closes fails its calls at once (see
 * the socket guard).
 */
class DeadlineSweep {
  #queue: TimedCall[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Number.POSITIVE_INFINITY;
  #pending = 0;
  #idleWaiters: Array<() => void> = [];

  /** Starts tracking `call`. */
  add(call: TimedCall): void {
    this.#queue.push(call);
    this.#pending++;
    if (call.deadline < this.#timerDue) this.#arm(call.deadline);
  }

  /** Stops tracking `call`: it has been answered or failed. */
  done(call: TimedCall): void {
    call.settled = true;
    // Answers mostly come in order: drop answered calls from the head at once, so the queue
    // holds about what is in flight and answered calls die young (cheap to collect).
    const queue = this.#queue;
    while (this.#head < queue.length && (queue[this.#head] as TimedCall).settled) this.#head++;
    if (this.#head >= COMPACT_AFTER) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    if (--this.#pending > 0) return;
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Resolves once no call is in flight. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerDue = deadline;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, deadline - performance.now()));
    this.#timer.unref();
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#timerDue = Number.POSITIVE_INFINITY;
    const now = performance.now();
    while (this.#head < this.#queue.length) {
      const call = this.#queue[this.#head] as TimedCall;
      if (!call.settled && call.deadline > now) break;
      this.#head++;
      if (!call.settled) {
        this.done(call);
        call.expire();
      }
    }
    if (this.#head >= COMPACT_AFTER || this.#head === this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    // Answered calls at the head are skipped: the timer waits for the oldest unanswered one.
    const next = this.#queue[this.#head];
    if (next !== undefined) this.#arm(next.deadline);
  }
}

/** The error for a status the operation does not expect. */
function statusError(
  operation: Operation,
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
