import { randomBytes } from 'node:crypto';
import { type Cluster, Redis } from 'iovalkey';
import { traceBackendCall } from '../diagnostics/tracing.js';
import type { StoreCallOptions } from '../entity/entity-store.js';
import { CacheUnavailableError, InvalidArgumentError, OutOfRangeError } from '../errors/index.js';
import { abortError, onAbort, throwIfAborted } from '../operation/index.js';
import { assertInteger, assertTimerMs, invalidArgument } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';
import { abandonedCallError } from './cache-abort.js';
import {
  assertCacheKey,
  assertCacheKeys,
  assertCasToken,
  assertDelta,
  type CheckedCounterOptions,
  type CheckedWriteOptions,
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
import { CallDeadlines, type PendingCall } from './valkey-deadlines.js';
import { type Admission, ValkeyFailFast } from './valkey-fail-fast.js';
import { valkeyKeySlot } from './valkey-key-slot.js';
import {
  COUNT_CREATE_OUT_OF_RANGE,
  COUNT_NO_CREATE,
  COUNT_NOT_NUMERIC,
  COUNT_OUT_OF_RANGE,
  COUNT_SCRIPT,
  type ValkeyScript,
  WRITE_SCRIPT,
} from './valkey-scripts.js';

/** An iovalkey client: one server (`Redis`, also exported as `Valkey`) or a `Cluster`. */
export type ValkeyClient = Redis | Cluster;

/** Options shared by both ways of constructing a {@link ValkeyCacheStore}. */
export interface ValkeyCacheStoreCommonOptions {
  /**
   * Longest a call may take, in milliseconds, from the call to its answer (connecting and
   * cluster redirections included). Past it the call fails with `CacheUnavailableError`; a
   * late answer is dropped. Default 500.
   */
  readonly timeoutMs?: number;
  /**
   * Fail-fast window, in milliseconds, per node (`host:port`; in a cluster, the primary
   * that owns the key's slot). After a call fails because it timed out or its connection
   * failed, calls routed to that node during the next `failFastMs` fail at once with
   * `CacheUnavailableError` (context `reason: 'fail-fast'`, `cause` the failure) without
   * sending anything. The first call after the window is sent as a probe (other calls to
   * that node keep failing fast while it is in flight): if it fails the window starts
   * again, if it is answered the node is used as before. Answers (a missing key, a lost
   * `cas`, a server error reply) are not failures. A whole number; 0 turns it off.
   * Default 1000.
   */
  readonly failFastMs?: number;
}

/** Construct a {@link ValkeyCacheStore} that creates and owns its client for one server. */
export interface ValkeyUrlOptions extends ValkeyCacheStoreCommonOptions {
  /**
   * The server, `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS), e.g.
   * `'redis://10.0.0.3:6379'`. For a cluster, pass a `Cluster` as `client` instead.
   */
  readonly url: string;
  /** Not with `url`. */
  readonly client?: never;
}

/** Construct a {@link ValkeyCacheStore} over an iovalkey client the caller made. */
export interface ValkeyClientOptions extends ValkeyCacheStoreCommonOptions {
  /**
   * An iovalkey `Redis` (one server) or `Cluster` client. The store never closes, reconnects
   * or reconfigures it. Make a `Cluster` with `createValkeyCluster`; give a `Redis` client
   * `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`. Then a command
   * whose answer was lost with its connection fails instead of being sent again: with
   * iovalkey's defaults a resent `incr` may count twice.
   */
  readonly client: ValkeyClient;
  /** Not with `client`. */
  readonly url?: never;
}

/** Options of {@link ValkeyCacheStore}: either `url` or an iovalkey `client`. */
export type ValkeyCacheStoreOptions = ValkeyUrlOptions | ValkeyClientOptions;

/** Default {@link ValkeyCacheStoreCommonOptions.timeoutMs}. */
export const DEFAULT_VALKEY_TIMEOUT_MS = 500;

/** Default {@link ValkeyCacheStoreCommonOptions.failFastMs}. */
export const DEFAULT_VALKEY_FAIL_FAST_MS = 1000;

type Operation = 'get' | 'getMany' | 'gets' | 'cas' | 'add' | 'set' | 'incr' | 'decr' | 'delete';

/**
 * The {@link CacheStore} on Valkey (Memorystore for Valkey, or any Valkey 7.2+ / Redis 7+),
 * standalone or cluster, through iovalkey.
 *
 * - Each entry is a hash of two fields: `v`, the value as JSON text (an integer as its
 *   digits), and `c`, a version token unique to the write that made it. `get` is one
 *   `HGET`; every write is one server-side Lua script on the key, so `cas` is an atomic
 *   compare-and-set (no WATCH round trips) that fails after any write or delete since the
 *   `gets`, as memcached's CAS does.
 * - `incr`/`decr` run as one script: a missing key is created holding `initial + delta`
 *   (`max(initial - delta, 0)` for `decr`) with its TTL, in the same step; `decr` floors at
 *   0; a value that is not a non-negative integer is `InvalidArgumentError`; a result past
 *   `Number.MAX_SAFE_INTEGER` is `OutOfRangeError` and nothing is written (memcached's
 *   unsigned 64-bit counters, Valkey's signed ones and Lua's doubles all agree up to there).
 * - Keys are used as they are: Valkey takes any bytes, so nothing is mapped. In a cluster,
 *   a key's `{hash tag}` picks its slot as usual. `getMany` takes keys of any slots: it
 *   groups them by node and reads each group in parallel.
 * - TTLs are relative seconds at any length (no 30-day rule).
 * - Every call settles within `timeoutMs`, and a node that timed out or dropped its
 *   connection fails fast for `failFastMs`. Commands are never resent by the store's own
 *   client, so a timed-out write may or may not have been applied.
 *
 * @example
 * ```ts
 * const cache = new ValkeyCacheStore({ url: 'redis://127.0.0.1:6379', timeoutMs: 200 });
 * await cache.set('greeting', { text: 'hello' }, { ttlSeconds: 60 });
 * const entry = await cache.gets<{ text: string }>('greeting');
 * if (entry && !(await cache.cas('greeting', { text: 'hi' }, entry.cas))) {
 *   // someone else wrote it between our gets and cas
 * }
 * await cache.incr('page-views', 1, { initial: 0 }); // 1 the first time
 * await cache.close();
 * ```
 */
export class ValkeyCacheStore implements CacheStore {
  readonly #client: ValkeyClient;
  readonly #ownsClient: boolean;
  readonly #cluster: Cluster | undefined;
  /** `host:port` of a standalone client's server. */
  readonly #serverNode: string;
  readonly #timeoutMs: number;
  readonly #failFastMs: number;
  readonly #failFast: ValkeyFailFast;
  readonly #deadlines = new CallDeadlines();
  /** Versions are this store's random prefix plus a counter: unique across writers. */
  readonly #versionPrefix = `${randomBytes(9).toString('base64url')}.`;
  #versionCounter = 0;
  #inFlight = 0;
  /** Sockets corked until the end of this tick (see {@link ValkeyCacheStore.#batchWrites}). */
  readonly #corked = new Set<Redis['stream']>();
  /** A cluster's node connections by `host:port`, refreshed when a node is not found. */
  #nodeConnections = new Map<string, Redis>();
  /** When {@link ValkeyCacheStore.#nodeConnections} was last rebuilt (`performance.now()`). */
  #nodeConnectionsAtMs = Number.NEGATIVE_INFINITY;
  #drained: (() => void) | undefined;
  #closed = false;

  /**
   * @param options - `url` (the store creates its client) or `client`, `timeoutMs` and
   * `failFastMs`
   * @throws InvalidArgumentError when the options are malformed
   */
  constructor(options: ValkeyCacheStoreOptions) {
    if (options === undefined) {
      throw new InvalidArgumentError('ValkeyCacheStore needs options with url or client.', {
        context: { argument: 'options' },
      });
    }
    const fields = readOptions(options, 'options', ['url', 'client', 'timeoutMs', 'failFastMs']);
    const timeoutMs = fields.timeoutMs ?? DEFAULT_VALKEY_TIMEOUT_MS;
    assertTimerMs(timeoutMs, 'options.timeoutMs', 1);
    this.#timeoutMs = timeoutMs;
    const failFastMs = fields.failFastMs ?? DEFAULT_VALKEY_FAIL_FAST_MS;
    assertInteger(failFastMs, 'options.failFastMs', { min: 0 });
    this.#failFastMs = failFastMs;
    this.#failFast = new ValkeyFailFast(failFastMs);
    const { client, url } = fields;
    if (client !== undefined && url !== undefined) {
      throw new InvalidArgumentError('Pass either url or client to ValkeyCacheStore, not both.', {
        context: { argument: 'options' },
      });
    }
    if (client !== undefined) {
      if (typeof client !== 'object' || client === null || !('isCluster' in client)) {
        throw new InvalidArgumentError('client must be an iovalkey Redis or Cluster client.', {
          context: { argument: 'options.client' },
        });
      }
      this.#client = client as ValkeyClient;
      this.#ownsClient = false;
    } else if (url !== undefined) {
      this.#client = createClient(url, timeoutMs);
      this.#ownsClient = true;
    } else {
      throw new InvalidArgumentError('ValkeyCacheStore needs url or client.', {
        context: { argument: 'options' },
      });
    }
    this.#cluster = this.#client.isCluster ? (this.#client as Cluster) : undefined;
    const standalone = this.#client as Redis;
    this.#serverNode =
      this.#cluster === undefined
        ? `${standalone.options.host ?? 'localhost'}:${standalone.options.port ?? 6379}`
        : '';
  }

  /** The timeout every call is bounded by, in milliseconds. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The fail-fast window after a node failed, in milliseconds (0: off). */
  get failFastMs(): number {
    return this.#failFastMs;
  }

  /** Whether the client is a cluster client. */
  get isCluster(): boolean {
    return this.#cluster !== undefined;
  }

  async get<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<V | undefined> {
    assertCacheKey(key);
    const signal = options === undefined ? undefined : checkCallOptions(options);
    this.#assertOpen();
    const text = await this.#call(
      'get',
      key,
      this.#node(key),
      () => this.#client.hget(key, 'v'),
      undefined,
      undefined,
      signal,
    );
    return text === null ? undefined : (decodeCacheValue(text) as V);
  }

  async getMany<V extends CacheValue = CacheValue>(
    keys: readonly string[],
    options?: StoreCallOptions,
  ): Promise<Map<string, V>> {
    assertCacheKeys(keys);
    const signal = options === undefined ? undefined : checkCallOptions(options);
    this.#assertOpen();
    throwIfAborted(signal, { operation: 'getMany' });
    // Keys of one node are read together under one timeout; nodes are read in parallel.
    const groups = new Map<string, string[]>();
    for (const key of new Set(keys)) {
      const node = this.#node(key);
      const group = groups.get(node);
      if (group === undefined) groups.set(node, [key]);
      else group.push(key);
    }
    // One answer missing fails the whole call, so a node in its window fails it before
    // anything is sent; a node past its window is probed with all of its keys.
    for (const [node, group] of groups) this.#failFast.check('getMany', group[0]!, node);
    const admissions = [...groups].map(
      ([node, group]) => [node, group, this.#failFast.admit('getMany', group[0]!, node)] as const,
    );
    const answers = await Promise.all(
      admissions.map(([node, group, admission]) =>
        this.#call(
          'getMany',
          group[0]!,
          node,
          () => Promise.all(group.map((key) => this.#client.hget(key, 'v'))),
          admission,
          undefined,
          signal,
          group.length,
        ),
      ),
    );
    const found = new Map<string, V>();
    admissions.forEach(([, group], g) => {
      group.forEach((key, i) => {
        const text = answers[g]![i];
        if (text !== null && text !== undefined) found.set(key, decodeCacheValue(text) as V);
      });
    });
    return found;
  }

  async gets<V extends CacheValue = CacheValue>(
    key: string,
    options?: StoreCallOptions,
  ): Promise<CasEntry<V> | undefined> {
    assertCacheKey(key);
    const signal = options === undefined ? undefined : checkCallOptions(options);
    this.#assertOpen();
    const [text, version] = await this.#call(
      'gets',
      key,
      this.#node(key),
      () => this.#client.hmget(key, 'v', 'c'),
      undefined,
      undefined,
      signal,
    );
    if (text === null || text === undefined) return undefined;
    // A hash without a version was not written by this store: a token no write can match.
    return { value: decodeCacheValue(text) as V, cas: (version ?? '') as CasToken };
  }

  async cas(
    key: string,
    value: CacheValue,
    cas: CasToken,
    options?: CacheWriteOptions,
  ): Promise<boolean> {
    const checked = this.#checkWrite(key, value, options, (checkedKey) =>
      assertCasToken(cas, checkedKey),
    );
    return (await this.#write('cas', key, checked, cas)) === 1;
  }

  async add(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<boolean> {
    const checked = this.#checkWrite(key, value, options);
    return (await this.#write('add', key, checked, '')) === 1;
  }

  async set(key: string, value: CacheValue, options?: CacheWriteOptions): Promise<void> {
    const checked = this.#checkWrite(key, value, options);
    await this.#write('set', key, checked, '');
  }

  async incr(
    key: string,
    delta: number,
    options?: CacheCounterOptions,
  ): Promise<number | undefined> {
    return this.#count('incr', key, delta, this.#checkCount(key, delta, options));
  }

  async decr(
    key: string,
    delta: number,
    options?: CacheCounterOptions,
  ): Promise<number | undefined> {
    return this.#count('decr', key, delta, this.#checkCount(key, delta, options));
  }

  async delete(key: string, options?: StoreCallOptions): Promise<boolean> {
    assertCacheKey(key);
    const signal = options === undefined ? undefined : checkCallOptions(options);
    this.#assertOpen();
    const removed = await this.#call(
      'delete',
      key,
      this.#node(key),
      () => this.#client.del(key),
      undefined,
      undefined,
      signal,
    );
    return removed > 0;
  }

  /**
   * Waits for the calls in flight (each ends within `timeoutMs`), then disconnects the
   * client if the store created it (`url`); a client passed in is left as it is. Later
   * calls fail with `InvalidArgumentError`. Calling it again does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    this.#deadlines.stop();
    if (this.#ownsClient) this.#client.disconnect();
  }

  async #count(
    operation: 'incr' | 'decr',
    key: string,
    delta: number,
    options: CheckedCounterOptions,
  ): Promise<number | undefined> {
    const { initial } = options;
    let created = COUNT_NO_CREATE;
    if (initial !== undefined) {
      const value = operation === 'incr' ? initial + delta : Math.max(initial - delta, 0);
      created = Number.isSafeInteger(value) ? String(value) : COUNT_CREATE_OUT_OF_RANGE;
    }
    const args = [
      String(delta),
      operation,
      created,
      String(options.ttlSeconds ?? 0),
      this.#nextVersion(),
    ];
    const result = (await this.#script(operation, key, COUNT_SCRIPT, args, options.signal)) as
      | number
      | null;
    if (result === null) return undefined;
    if (result === COUNT_NOT_NUMERIC) {
      throw new InvalidArgumentError(
        `Cannot ${operation} cache key "${key}": its value is not a non-negative integer.`,
        { context: { key, operation } },
      );
    }
    if (result === COUNT_OUT_OF_RANGE) {
      throw new OutOfRangeError(
        `Cannot ${operation} ${delta} at cache key "${key}"${initial === undefined ? '' : ` (initial ${initial})`}: the counter would pass Number.MAX_SAFE_INTEGER; nothing was changed.`,
        { context: { key, operation } },
      );
    }
    return result;
  }

  #write(
    mode: 'set' | 'add' | 'cas',
    key: string,
    checked: CheckedWriteOptions & { readonly text: string },
    expected: string,
  ): Promise<unknown> {
    const args = [
      checked.text,
      String(checked.ttlSeconds ?? 0),
      this.#nextVersion(),
      mode,
      expected,
    ];
    return this.#script(mode, key, WRITE_SCRIPT, args, checked.signal);
  }

  /** Validates a write's arguments before any I/O (the token last, as the others do). */
  #checkWrite(
    key: unknown,
    value: unknown,
    options: unknown,
    checkToken?: (key: string) => void,
  ): CheckedWriteOptions & { readonly text: string } {
    assertCacheKey(key);
    const checked = checkWriteOptions(options);
    const text = encodeCacheValue(key, value);
    checkToken?.(key);
    this.#assertOpen();
    return { ...checked, text };
  }

  /** Validates a counter call's arguments before any I/O. */
  #checkCount(key: unknown, delta: unknown, options: unknown): CheckedCounterOptions {
    assertCacheKey(key);
    assertDelta(delta);
    const checked = checkCounterOptions(options);
    this.#assertOpen();
    return checked;
  }

  /** Runs a script on `key` by its SHA, loading it (EVAL) where the node does not know it. */
  #script(
    operation: Operation,
    key: string,
    script: ValkeyScript,
    args: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const client = this.#client;
    return this.#call(
      operation,
      key,
      this.#node(key),
      () => client.evalsha(script.sha, 1, key, ...args),
      undefined,
      () => client.eval(script.lua, 1, key, ...args),
      signal,
    );
  }

  /**
   * Corks the socket a call to `node` goes out on until the current tick's callbacks have
   * run, so the commands of every call made meanwhile leave in one system call per
   * connection instead of one each (under concurrency, most of a call's client-side cost).
   * Nothing waits for a timer: sockets are uncorked in `process.nextTick`, before any I/O.
   */
  #batchWrites(node: string): void {
    const connection =
      this.#cluster === undefined ? (this.#client as Redis) : this.#nodeConnection(node);
    if (connection === undefined || connection.status !== 'ready') return;
    const stream = connection.stream;
    if (stream === undefined || this.#corked.has(stream) || stream.writableCorked > 0) return;
    stream.cork();
    if (this.#corked.size === 0) process.nextTick(this.#uncork);
    this.#corked.add(stream);
  }

  readonly #uncork = (): void => {
    for (const stream of this.#corked) stream.uncork();
    this.#corked.clear();
  };

  /** The cluster's connection to `node` (`host:port`), if it has one. */
  #nodeConnection(node: string): Redis | undefined {
    let connection = this.#nodeConnections.get(node);
    const stale = connection === undefined || connection.status === 'end';
    // At most one rebuild a second: a node the map lacks (slots not known yet) costs nothing.
    if (stale && performance.now() - this.#nodeConnectionsAtMs > 1000) {
      this.#nodeConnectionsAtMs = performance.now();
      this.#nodeConnections = new Map(
        this.#cluster!.nodes('master').map((redis) => [
          `${redis.options.host}:${redis.options.port}`,
          redis,
        ]),
      );
      connection = this.#nodeConnections.get(node);
    }
    return connection;
  }

  #nextVersion(): string {
    this.#versionCounter += 1;
    return this.#versionPrefix + this.#versionCounter.toString(36);
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidArgumentError('This ValkeyCacheStore has been closed.');
  }

  /** The node a key's calls go to: the server, or the primary owning the key's slot. */
  #node(key: string): string {
    if (this.#cluster === undefined) return this.#serverNode;
    return this.#cluster.slots[valkeyKeySlot(key)]?.[0] ?? 'cluster';
  }

  /**
   * Sends one call and settles within the timeout: its answer, `CacheUnavailableError` when
   * it times out or the connection fails (opening `node`'s fail-fast window), or at once
   * when `node` is in its window. An error reply from the server is an answer: it neither
   * opens nor keeps open a window. `admission` is given when the caller already admitted
   * the call (`getMany`). `loadScript` resends a script call as EVAL when the node answers
   * NOSCRIPT (it forgot its scripts: a restart, a failover, SCRIPT FLUSH). `signal` already
   * aborted: nothing is sent, the abort error is thrown; aborting later abandons the call
   * (see `abandonedCallError`), whose answer iovalkey still reads off the connection (replies
   * come in order) and which still settles its node's fail-fast bookkeeping.
   */
  #call<T>(
    operation: Operation,
    key: string,
    node: string,
    send: () => Promise<T>,
    admission?: Admission,
    loadScript?: () => Promise<T>,
    signal?: AbortSignal,
    batchSize?: number,
  ): Promise<T> {
    // Traced on storage's backend-call channel (a getMany as one `mget` per node). Nobody
    // listening: one property read, no closure.
    if (BACKEND_CALLS.hasSubscribers) {
      return traceBackendCall(
        'valkey',
        operation === 'getMany' ? 'mget' : operation,
        batchSize,
        () => this.#callNow(operation, key, node, send, admission, loadScript, signal),
      );
    }
    return this.#callNow(operation, key, node, send, admission, loadScript, signal);
  }

  #callNow<T>(
    operation: Operation,
    key: string,
    node: string,
    send: () => Promise<T>,
    admission: Admission | undefined,
    loadScript: (() => Promise<T>) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    if (signal?.aborted === true) throw abortError(signal, { operation, key });
    const admitted = admission ?? this.#failFast.admit(operation, key, node);
    const timeoutMs = this.#timeoutMs;
    this.#inFlight += 1;
    this.#batchWrites(node);
    return new Promise<T>((resolve, reject) => {
      const pending: PendingCall = {
        deadlineMs: performance.now() + timeoutMs,
        settled: false,
        expire: () => {
          finish();
          const error = new CacheUnavailableError(
            `Valkey did not answer ${operation} within ${timeoutMs} ms (node ${node}).`,
            { context: { operation, key, server: node } },
          );
          this.#failFast.settled(node, admitted, error);
          reject(error);
        },
      };
      let stopWaiting: (() => void) | undefined;
      const finish = (): void => {
        stopWaiting?.();
        pending.settled = true;
        this.#deadlines.trim();
        this.#inFlight -= 1;
        if (this.#inFlight === 0 && this.#drained !== undefined) this.#drained();
      };
      const answered = (value: T): void => {
        if (pending.settled) return;
        finish();
        // An answer changes something only for the probe that ends a window.
        if (admitted === 'probe') this.#failFast.settled(node, admitted, undefined);
        resolve(value);
      };
      let scriptLoaded = loadScript === undefined;
      const failed = (error: unknown): void => {
        if (pending.settled) return;
        if (!scriptLoaded && isReplyError(error) && error.message.startsWith('NOSCRIPT')) {
          scriptLoaded = true;
          start(loadScript!);
          return;
        }
        finish();
        if (isReplyError(error)) {
          this.#failFast.settled(node, admitted, undefined);
          reject(replyError(operation, key, error));
          return;
        }
        const failure = new CacheUnavailableError(
          `Valkey ${operation} failed (node ${node}): ${error instanceof Error ? error.message : String(error)}`,
          { context: { operation, key, server: node }, cause: error },
        );
        this.#failFast.settled(node, admitted, failure);
        reject(failure);
      };
      const start = (attempt: () => Promise<T>): void => {
        let sent: Promise<T>;
        try {
          sent = attempt();
        } catch (error) {
          sent = Promise.reject(error);
        }
        sent.then(answered, failed);
      };
      this.#deadlines.add(pending);
      start(send);
      if (signal !== undefined) {
        stopWaiting = onAbort(signal, () => {
          reject(abandonedCallError('Valkey', operation, key, signal));
        });
      }
    });
  }
}

/** Whether the server answered with an error (as opposed to not answering). */
function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

/** The error for an error reply: a key holding another type is the caller's data at fault. */
function replyError(
  operation: Operation,
  key: string,
  error: Error,
): CacheUnavailableError | InvalidArgumentError {
  const options = { context: { operation, key }, cause: error };
  if (error.message.includes('WRONGTYPE')) {
    return new InvalidArgumentError(
      `Valkey ${operation} of cache key "${key}": the key holds a value ValkeyCacheStore did not write (${error.message}).`,
      options,
    );
  }
  return new CacheUnavailableError(
    `Valkey answered ${operation} of cache key "${key}" with an error: ${error.message}`,
    options,
  );
}

/** The store's own client: fails calls on a lost connection instead of resending them. */
function createClient(url: unknown, timeoutMs: number): Redis {
  let valid = typeof url === 'string' && /^rediss?:\/\/\S+$/.test(url);
  if (valid) {
    try {
      valid = new URL(url as string).hostname !== '';
    } catch {
      valid = false;
    }
  }
  if (!valid) {
    throw invalidArgument('options.url', 'a redis://host:port (or rediss://) URL', url);
  }
  const client = new Redis(url as string, {
    lazyConnect: true,
    // A command sent on a connection that then drops is failed, never resent (a resent
    // incr could count twice); commands made while reconnecting fail on the next failed
    // attempt or by the store's timeout.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(attempt * 50, 1000),
    connectTimeout: Math.max(2 * timeoutMs, 1000),
    // A connection that answers nothing for this long is dropped and made again, so a
    // half-open one (a partition, a replaced node) heals by itself.
    socketTimeout: Math.max(4 * timeoutMs, 2000),
  });
  // Failures reach callers through their calls; without a listener iovalkey logs them.
  client.on('error', () => {});
  return client;
}
