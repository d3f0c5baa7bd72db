import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { CounterStatus, ShardedCounterService } from '@shardcount/core';
import { defineKind } from '@shardcount/storage';
import { realCacheStore, realEntityStore, TYPESCRIPT_RUNNER } from '@shardcount/test-services';
import { v4 as uuidv4 } from 'uuid';
import { describe, expect, inject, it } from 'vitest';

const deletingProcess = fileURLToPath(new URL('./fixtures/deleting-process.ts', import.meta.url));
const Shards = defineKind<{ counterName: string }>('ShardcountShard');

describe('delete(name, { wait: false }) in a process that exits (emulator + memcached)', () => {
  it('leaves the counter DELETING; resumeDeletions() in another process finishes it', async () => {
    const namespace = `core-resume-${uuidv4()}`;
    const cachePrefix = `core-resume-${uuidv4()}:`;
    const name = `dies-while-deleting-${uuidv4()}`;
    const child = fork(TYPESCRIPT_RUNNER, [deletingProcess], {
      env: {
        ...process.env,
        CORE_MEMCACHED: inject('memcachedAddress'),
        CORE_EMULATOR: inject('datastoreEmulatorAddress'),
        CORE_PROJECT: inject('datastoreProjectId'),
        CORE_DS_NAMESPACE: namespace,
        CORE_CACHE_PREFIX: cachePrefix,
        CORE_NAME: name,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const messages: unknown[] = [];
    child.on('message', (message) => messages.push(message));
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(messages).toEqual([{ kind: 'marked', existed: true }]);

    const store = realEntityStore({ namespace });
    const cache = realCacheStore();
    try {
      const service = new ShardedCounterService({ store, cache, cacheKeyPrefix: cachePrefix });
      // What the dead process left: the mark, and every shard still there.
      const left = await service.getCounter(name);
      expect(left?.status).toBe(CounterStatus.DELETING);
      expect(left?.count).toBe(0);
      const shards = await store.query(Shards, {
        filters: [{ property: 'counterName', value: name }],
      });
      expect(shards.length).toBeGreaterThan(0);
      expect((await service.listCounters({ status: CounterStatus.DELETING })).counters).toEqual([
        expect.objectContaining({ name, status: CounterStatus.DELETING }),
      ]);

      expect(await service.resumeDeletions({ timeoutMs: 30_000 })).toEqual([name]);
      expect(await service.getCounter(name)).toBeUndefined();
      expect(
        await store.query(Shards, { filters: [{ property: 'counterName', value: name }] }),
      ).toEqual([]);
      // The name is free again.
      await service.increment(name, 2);
      expect((await service.getCounter(name, { skipCache: true }))?.count).toBe(2);
    } finally {
      await Promise.allSettled([store.close(), cache.close()]);
    }
  });
});
