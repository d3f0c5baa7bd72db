import { DeadlineExceededError, OperationAbortedError } from '@shardcount/storage';
import { type MemcachedServer, realCacheStore, startMemcached } from '@shardcount/test-services';
import { afterEach, describe, expect, test } from 'vitest';
import { LocalCache } from '../src/index.js';

/** Longer than any deadline below: a frozen memcached is not an outage before it. */
const STORE_TIMEOUT_MS = 3_000;

describe('signal and timeoutMs against a frozen memcached (SIGSTOP)', () => {
  let server: MemcachedServer | undefined;
  afterEach(async () => {
    server?.resume();
    await server?.stop();
    server = undefined;
  });

  test('a deadline or an abort during the tag check rejects before the store times out', async () => {
    server = await startMemcached();
    const store = realCacheStore({ address: server.address, timeoutMs: STORE_TIMEOUT_MS });
    try {
      const cache = new LocalCache<string>({ cache: store });
      let loads = 0;
      const provider = async (key: string) => {
        loads += 1;
        return `${key}-value`;
      };
      expect(await cache.get('k', provider)).toBe('k-value');
      await server.pause();

      const started = performance.now();
      const late = await cache.get('k', provider, { timeoutMs: 100 }).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(DeadlineExceededError);
      const controller = new AbortController();
      const aborted = cache.get('k', provider, { signal: controller.signal });
      setTimeout(() => controller.abort('user left'), 50);
      const error = await aborted.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OperationAbortedError);
      expect((error as Error).cause).toBe('user left');
      // Both gave up well before the store's own timeout would have turned this into an outage.
      expect(performance.now() - started).toBeLessThan(STORE_TIMEOUT_MS);
      expect(loads).toBe(1);

      server.resume();
      // The answers sent meanwhile arrive; the next read is a plain hit.
      expect(await cache.get('k', provider)).toBe('k-value');
      expect(loads).toBe(1);
      expect(cache.stats()).toMatchObject({ errors: 0, hits: 1 });
    } finally {
      await store.close();
    }
  }, 20_000);
});
