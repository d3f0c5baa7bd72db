import { CacheUnavailableError } from '../errors/index.js';

/** A node whose last call failed (timeout or connection failure). */
interface NodeFailure {
  /** When it failed, on the `performance.now()` clock, in milliseconds. */
  atMs: number;
  /** The failure, the cause of the fail-fast errors. */
  error: unknown;
  /** Whether a probe call to it is in flight. */
  probing: boolean;
}

/** How a call may reach a node: as usual, or as the probe that ends a fail-fast window. */
export type Admission = 'healthy' | 'probe';

/**
 * Fail-fast windows per Valkey node (`host:port`), with the rules of
 * `MemcachedCacheStore`'s `failFastMs`: after a call to a node times out or its connection
 * fails, calls to that node fail at once for `failFastMs`; the first call after the window
 * is sent as a probe while the others keep failing fast; an answered probe closes the
 * window, a failed one starts it again.
 */
export class ValkeyFailFast {
  readonly #failFastMs: number;
  /** Nodes in (or probing at the end of) a window; healthy ones are absent. */
  readonly #failures = new Map<string, NodeFailure>();

  /** @param failFastMs - window length in milliseconds; 0 turns windows off */
  constructor(failFastMs: number) {
    this.#failFastMs = failFastMs;
  }

  /** Whether no node is in a window: the common case, checked first on the hot path. */
  get allHealthy(): boolean {
    return this.#failures.size === 0;
  }

  /**
   * Throws the fail-fast `CacheUnavailableError` when `node` is in its window or being
   * probed; changes nothing.
   */
  check(operation: string, key: string, node: string): void {
    const failure = this.#failures.get(node);
    if (failure === undefined) return;
    const sinceMs = performance.now() - failure.atMs;
    if (sinceMs >= this.#failFastMs && !failure.probing) return;
    const why =
      sinceMs < this.#failFastMs
        ? `it failed within the last ${this.#failFastMs} ms`
        : 'it failed and a call probing whether it is back has not settled yet';
    const cause = failure.error instanceof Error ? failure.error.message : String(failure.error);
    throw new CacheUnavailableError(
      `Valkey ${operation} of cache key "${key}" failed fast, nothing sent: node ${node} is skipped because ${why} (${cause}).`,
      {
        context: {
          operation,
          key,
          reason: 'fail-fast',
          server: node,
          failFastMs: this.#failFastMs,
        },
        cause: failure.error,
      },
    );
  }

  /**
   * Lets a call reach `node`: throws as {@link ValkeyFailFast.check} does, else tells
   * whether the call is the probe that ends the node's window (and marks it in flight).
   */
  admit(operation: string, key: string, node: string): Admission {
    if (this.#failures.size === 0) return 'healthy';
    this.check(operation, key, node);
    const failure = this.#failures.get(node);
    if (failure === undefined) return 'healthy';
    failure.probing = true;
    return 'probe';
  }

  /** Records how a call to `node` ended: `error` only for timeouts and connection failures. */
  settled(node: string, admission: Admission, error: unknown): void {
    if (this.#failFastMs === 0) return;
    if (error === undefined) {
      if (admission === 'probe') this.#failures.delete(node);
      return;
    }
    const failure = this.#failures.get(node);
    if (failure === undefined) {
      this.#failures.set(node, { atMs: performance.now(), error, probing: false });
      return;
    }
    failure.atMs = performance.now();
    failure.error = error;
    if (admission === 'probe') failure.probing = false;
  }
}
