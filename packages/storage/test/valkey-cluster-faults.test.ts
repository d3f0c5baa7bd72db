import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  startValkeyCluster,
  type ValkeyCluster,
  valkeyClusterClient,
} from '@shardcount/test-services';
import { Redis } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValkeyCacheStore } from '../src/cache/valkey-cache-store.js';
import { valkeyKeySlot } from '../src/cache/valkey-key-slot.js';
import { CacheUnavailableError } from '../src/errors/index.js';

/** One node of `CLUSTER SHARDS`-like bookkeeping: address, id, role. */
interface NodeInfo {
  readonly address: string;
  readonly id: string;
  readonly primary: boolean;
  readonly primaryId: string | undefined;
}

describe('ValkeyCacheStore on a private cluster that reshards, fails over and hangs', () => {
  let cluster: ValkeyCluster;
  const raw = new Map<string, Redis>();

  const client = (address: string): Redis => {
    let found = raw.get(address);
    if (found === undefined) {
      const [host, port] = address.split(':');
      found = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 0 });
      found.on('error', () => {});
      raw.set(address, found);
    }
    return found;
  };

  /** Every node's id and role, from `CLUSTER NODES` of the first node. */
  async function nodes(): Promise<NodeInfo[]> {
    const text = (await client(cluster.nodes[0]!.address).cluster('NODES')) as string;
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, addr, flags, primaryId] = line.split(' ');
        return {
          id: id!,
          address: addr!.split('@')[0]!,
          primary: flags!.includes('master'),
          primaryId: primaryId === '-' ? undefined : primaryId,
        };
      });
  }

  /** The primary owning `slot`, per `CLUSTER SLOTS` of the first node. */
  async function ownerOf(slot: number): Promise<NodeInfo> {
    const slots = await client(cluster.nodes[0]!.address).cluster('SLOTS');
    const range = slots.find(([start, end]) => start <= slot && slot <= end)!;
    return (await nodes()).find((n) => n.id === range[2]![2])!;
  }

  /** A store on its own cluster client (configured not to resend), closed with it. */
  function clusterStore(timeoutMs: number, failFastMs?: number) {
    const clusterClient = valkeyClusterClient(cluster.addresses);
    const store = new ValkeyCacheStore({
      client: clusterClient,
      timeoutMs,
      ...(failFastMs === undefined ? {} : { failFastMs }),
    });
    return {
      store,
      close: async () => {
        await store.close();
        clusterClient.disconnect();
      },
    };
  }

  beforeAll(async () => {
    cluster = await startValkeyCluster({ primaries: 3, replicasPerPrimary: 1 });
    // Replicas must be in sync before a failover can be coordinated.
    for (const node of await nodes()) {
      if (node.primary) continue;
      for (let i = 0; i < 100; i++) {
        const info = (await client(node.address).info('replication')) as string;
        if (info.includes('master_link_status:up')) break;
        await sleep(50);
      }
    }
  }, 60_000);

  afterAll(async () => {
    for (const redis of raw.values()) redis.disconnect();
    await cluster?.stop();
  });

  /** Increments `key` from `workers` loops until `stop()`; counts what succeeded and failed. */
  function load(store: ValkeyCacheStore, key: string, workers: number) {
    let running = true;
    let succeeded = 0;
    const failures: unknown[] = [];
    const done = Promise.all(
      Array.from({ length: workers }, async () => {
        while (running) {
          try {
            await store.incr(key, 1, { initial: 0 });
            succeeded += 1;
          } catch (error) {
            failures.push(error);
            await sleep(20);
          }
        }
      }),
    );
    return {
      stop: async () => {
        running = false;
        await done;
        return { succeeded, failures };
      },
    };
  }

  it('a slot moved to another primary under load (ASK, then MOVED): every increment counted once', async () => {
    const { store, close } = clusterStore(3_000);
    try {
      const key = `reshard:${randomUUID()}`;
      const slot = valkeyKeySlot(key);
      expect(await store.incr(key, 1, { initial: 0 })).toBe(1);
      const source = await ownerOf(slot);
      const target = (await nodes()).find((n) => n.primary && n.id !== source.id)!;
      const running = load(store, key, 16);
      await sleep(200);
      const [targetHost, targetPort] = target.address.split(':');
      await client(target.address).cluster('SETSLOT', slot, 'IMPORTING', source.id);
      await client(source.address).cluster('SETSLOT', slot, 'MIGRATING', target.id);
      await sleep(100);
      const keys = (await client(source.address).cluster('GETKEYSINSLOT', slot, 100)) as string[];
      expect(keys).toContain(key);
      await client(source.address).migrate(
        targetHost!,
        Number(targetPort),
        '',
        0,
        5_000,
        'KEYS',
        ...keys,
      );
      await sleep(100);
      for (const node of await nodes()) {
        if (node.primary) await client(node.address).cluster('SETSLOT', slot, 'NODE', target.id);
      }
      await sleep(300);
      const { succeeded, failures } = await running.stop();
      expect(failures).toEqual([]);
      expect(succeeded).toBeGreaterThan(0);
      expect((await ownerOf(slot)).id).toBe(target.id);
      expect(await store.get(key)).toBe(succeeded + 1);
    } finally {
      await close();
    }
  });

  it('a coordinated failover to the replica under load: no increment lost or counted twice', async () => {
    const { store, close } = clusterStore(3_000);
    try {
      const key = `failover:${randomUUID()}`;
      expect(await store.incr(key, 1, { initial: 0 })).toBe(1);
      const primary = await ownerOf(valkeyKeySlot(key));
      const replica = (await nodes()).find((n) => n.primaryId === primary.id)!;
      const running = load(store, key, 16);
      await sleep(200);
      await client(replica.address).cluster('FAILOVER');
      // The replica takes over once it has every write of its primary.
      for (let i = 0; i < 100; i++) {
        if ((await nodes()).find((n) => n.id === replica.id)?.primary) break;
        await sleep(50);
      }
      await sleep(500);
      const { succeeded, failures } = await running.stop();
      expect((await ownerOf(valkeyKeySlot(key))).id).toBe(replica.id);
      for (const failure of failures) expect(failure).toBeInstanceOf(CacheUnavailableError);
      // An increment that failed (its answer lost) may or may not have been applied;
      // one that succeeded was applied exactly once.
      const total = (await store.get<number>(key))! - 1;
      expect(total).toBeGreaterThanOrEqual(succeeded);
      expect(total).toBeLessThanOrEqual(succeeded + failures.length);
      expect(succeeded).toBeGreaterThan(0);
    } finally {
      await close();
    }
  });

  it('a hung primary fails only its own keys, fast after the first timeout; the others are served', async () => {
    const timeoutMs = 300;
    const { store, close } = clusterStore(timeoutMs, 5_000);
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `hung:${randomUUID()}:${i}`);
      await Promise.all(keys.map((key) => store.set(key, 1)));
      const owners = await Promise.all(
        keys.map(async (key) => (await ownerOf(valkeyKeySlot(key))).address),
      );
      const hung = owners[0]!;
      const server = cluster.nodes.find((node) => node.address === hung)!;
      await server.pause();
      try {
        const first = await store.get(keys[0]!).catch((e: unknown) => e);
        expect((first as Error).message).toMatch(/did not answer get within 300 ms/);
        const started = performance.now();
        const outcomes = await Promise.allSettled(keys.map((key) => store.incr(key, 1)));
        expect(performance.now() - started).toBeLessThan(timeoutMs);
        for (const [i, outcome] of outcomes.entries()) {
          if (owners[i] === hung) {
            expect(outcome.status).toBe('rejected');
            expect((outcome as PromiseRejectedResult).reason.context).toMatchObject({
              reason: 'fail-fast',
              server: hung,
            });
          } else {
            expect(outcome).toEqual({ status: 'fulfilled', value: 2 });
          }
        }
        await expect(store.getMany(keys)).rejects.toBeInstanceOf(CacheUnavailableError);
        const others = keys.filter((_, i) => owners[i] !== hung);
        expect((await store.getMany(others)).size).toBe(others.length);
      } finally {
        server.resume();
      }
    } finally {
      await close();
    }
  });
});
