// One request of a MemcachedCacheStore in flight: its promise, its memjs callback, its
// deadline and its caller's signal. Internal to MemcachedCacheStore.
import type memjs from 'memjs';
import { CacheUnavailableError } from '../errors/index.js';
import { onAbort } from '../operation/index.js';
import { abandonedCallError } from './cache-abort.js';
import type { DeadlineSweep, TimedCall } from './memcached-deadlines.js';
import type { MemcachedResponse } from './memcached-protocol.js';
import { destroyServerSockets } from './memcached-socket-guard.js';

/** The verbs of a `MemcachedCacheStore`, as its errors name them. */
export type MemcachedOperation =
  | 'get'
  | 'getMany'
  | 'gets'
  | 'cas'
  | 'add'
  | 'set'
  | 'incr'
  | 'decr'
  | 'delete';

/** The server memjs routes a key to; none when every server is marked down by memjs's failover. */
export type RoutedServer = memjs.Server | null | undefined;

/** How a call may reach a server: as usual, or as the probe that ends a fail-fast window. */
export type Admission = 'healthy' | 'probe';

/**
 * Turns a response (any status) into the call's result, in memjs's callback: the hot path
 * resolves with the final value, with no further promise in between. Throwing rejects the call.
 */
export type Decode<R> = (response: MemcachedResponse, call: MemcachedCall<R>) => R | Promise<R>;

/** What a call needs of the store that sent it. */
export interface MemcachedCallOwner {
  /** Every call's timeout, in milliseconds. */
  readonly timeoutMs: number;
  /** The store's deadline sweep. */
  readonly deadlines: DeadlineSweep;
  /** Records how a call to `server` ended, for the fail-fast windows (`error` for failures). */
  settled(server: RoutedServer, admission: Admission, error: unknown): void;
}

/** The memjs callback of a request; memjs also calls it with the error when sending throws. */
type MemjsCallback = (error: Error | null, response?: MemcachedResponse | null) => void;

/**
 * A request in flight. It settles once: answered (through `decode`), failed (connection),
 * expired (deadline sweep) or abandoned (the caller's signal). An abandoned call stays in the
 * deadline sweep and keeps its memjs callback: memjs matches answers by their opaque number,
 * so the late answer is still read off the connection (which stays in step) and then
 * dropped, and a probe's answer still closes its server's fail-fast window.
 */
export class MemcachedCall<R> implements TimedCall {
  readonly deadline: number;
  settled = false;
  /** Settles with the call's result. */
  readonly promise: Promise<R>;
  /** memjs's callback for this request. */
  readonly callback: MemjsCallback;
  readonly operation: MemcachedOperation;
  readonly key: string;
  readonly #owner: MemcachedCallOwner;
  readonly #server: RoutedServer;
  readonly #admission: Admission;
  readonly #decode: Decode<R>;
  #resolve!: (value: R | Promise<R>) => void;
  #reject!: (error: unknown) => void;
  /** Stops waiting for the caller's signal; only set when a signal was given. */
  #stopWaiting: (() => void) | undefined;

  constructor(
    owner: MemcachedCallOwner,
    operation: MemcachedOperation,
    key: string,
    server: RoutedServer,
    admission: Admission,
    decode: Decode<R>,
  ) {
    this.#owner = owner;
    this.operation = operation;
    this.key = key;
    this.#server = server;
    this.#admission = admission;
    this.#decode = decode;
    this.deadline = performance.now() + owner.timeoutMs;
    this.promise = new Promise<R>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.callback = (error, response) => this.#answered(error, response);
    owner.deadlines.add(this);
  }

  /**
   * Gives up on the call when `signal` aborts: a read rejects with the abort error, a write
   * with `AmbiguousCommitError` (it was sent and may apply). Call it after the request was
   * handed to memjs; a signal already aborted is the caller's to check before sending.
   */
  watch(signal: AbortSignal): void {
    this.#stopWaiting = onAbort(signal, () => {
      this.#stopWaiting = undefined;
      this.#reject(abandonedCallError('memcached', this.operation, this.key, signal));
    });
  }

  /** Fails the call for its timeout (the sweep has marked it settled). */
  expire(): void {
    this.#unwatch();
    const error = new CacheUnavailableError(
      `memcached did not answer ${this.operation} within ${this.#owner.timeoutMs} ms.`,
      { context: { operation: this.operation, key: this.key } },
    );
    this.#owner.settled(this.#server, this.#admission, error);
    // The connection may be dead without memjs noticing (no FIN, a half-read answer): drop it
    // so the next call reconnects instead of waiting on it too.
    if (this.#server) {
      destroyServerSockets(
        this.#server,
        new Error(`connection dropped after a ${this.operation} call timed out`),
      );
    }
    this.#reject(error);
  }

  #answered(error: Error | null, response?: MemcachedResponse | null): void {
    if (this.settled) return;
    this.#owner.deadlines.done(this);
    this.#unwatch();
    if (error !== null || response === null || response === undefined) {
      const failure = new CacheUnavailableError(
        `memcached ${this.operation} failed: ${error?.message ?? 'no response'}`,
        { context: { operation: this.operation, key: this.key }, cause: error },
      );
      this.#owner.settled(this.#server, this.#admission, failure);
      this.#reject(failure);
      return;
    }
    if (this.#admission === 'probe') this.#owner.settled(this.#server, this.#admission, undefined);
    let result: R | Promise<R>;
    try {
      result = this.#decode(response, this);
    } catch (decodeError) {
      this.#reject(decodeError);
      return;
    }
    this.#resolve(result);
  }

  #unwatch(): void {
    if (this.#stopWaiting === undefined) return;
    this.#stopWaiting();
    this.#stopWaiting = undefined;
  }
}
