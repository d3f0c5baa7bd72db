/**
 * The part of a test runner the contract suites need. Vitest's, Jest's, Mocha's and
 * `node:test`'s `describe`/`test` fit as they are, so the suites run under any of them.
 *
 * @example
 * ```ts
 * import { describe, test } from 'vitest';
 * runCacheStoreContract({ describe, test }, { name: 'my-cache', create: () => new MyCache() });
 * ```
 */
export interface ContractTestApi {
  /** Groups tests. */
  describe(name: string, body: () => void): void;
  /** Declares one test; `timeoutMs` is passed as the runner's third argument. */
  test(name: string, body: () => Promise<void>, timeoutMs?: number): void;
}
