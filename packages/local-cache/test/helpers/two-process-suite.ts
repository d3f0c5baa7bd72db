import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type RealCacheKind, TYPESCRIPT_RUNNER } from '@shardcount/test-services';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { LocalCacheStats } from '../../src/index.js';
import { IpcPeer } from './ipc-peer.js';

const runner = TYPESCRIPT_RUNNER;
const cacheProcess = fileURLToPath(new URL('../fixtures/cache-process.ts', import.meta.url));

/** A child Node process holding one LocalCache, and the parent's view of it. */
interface Machine {
  readonly name: string;
  readonly child: ChildProcess;
  readonly peer: IpcPeer;
}

/**
 * The source of truth lives in the parent: a version per key. Children's providers ask it for
 * the current version; `invalidate` bumps the version first, then asks a child to invalidate.
 */
const versions = new Map<string, number>();
const loadsServed = new Map<string, number>();

/** Where the run's shared server of each kind is, for the children. */
function sharedAddress(cacheKind: RealCacheKind): string {
  switch (cacheKind) {
    case 'memcached':
      return inject('memcachedAddress');
    case 'valkey':
      return inject('valkeyUrl');
    case 'valkey-cluster':
      return inject('valkeyClusterAddresses');
  }
}

function startMachine(
  name: string,
  namespace: string,
  cacheKind: RealCacheKind,
  ready: (name: string) => void,
): Machine {
  const child = fork(runner, [cacheProcess], {
    env: {
      ...process.env,
      LC_CACHE_KIND: cacheKind,
      LC_CACHE_ADDRESS: sharedAddress(cacheKind),
      LC_NAMESPACE: namespace,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const peer = new IpcPeer(child);
  peer.handle('ready', () => {
    ready(name);
    return null;
  });
  peer.handle('load', ({ key }) => {
    const k = String(key);
    loadsServed.set(name, (loadsServed.get(name) ?? 0) + 1);
    return versions.get(k) ?? 1;
  });
  child.once('exit', () => peer.failAll(new Error(`${name} exited`)));
  return { name, child, peer };
}

async function read(machine: Machine, key: string): Promise<number> {
  const value = await machine.peer.request('get', { key });
  if (typeof value !== 'number') throw new Error(`${machine.name} returned ${String(value)}`);
  return value;
}

async function stats(machine: Machine): Promise<LocalCacheStats> {
  return (await machine.peer.request('stats')) as LocalCacheStats;
}

/** The labels of the shared caches, for the test report. */
const LABELS: Record<RealCacheKind, string> = {
  memcached: 'one memcached',
  valkey: 'one Valkey server',
  'valkey-cluster': 'one Valkey cluster',
};

/**
 * Two OS processes, each with its own LocalCache over the run's shared cache of
 * `cacheKind`: invalidations made in one are seen by the other, and under load no read is
 * older than the last completed invalidation.
 */
export function runTwoProcessSuite(cacheKind: RealCacheKind): void {
  describe(`two OS processes sharing ${LABELS[cacheKind]}`, () => {
    const namespace = `lc-2p-${uuidv4()}`;
    let a: Machine;
    let b: Machine;

    beforeAll(async () => {
      // The maps are this module's: a file running several suites starts each from scratch.
      versions.clear();
      loadsServed.clear();
      const started = new Set<string>();
      let allReady!: () => void;
      const ready = new Promise<void>((resolve) => {
        allReady = resolve;
      });
      const onReady = (name: string): void => {
        started.add(name);
        if (started.size === 2) allReady();
      };
      a = startMachine('A', namespace, cacheKind, onReady);
      b = startMachine('B', namespace, cacheKind, onReady);
      const exited = Promise.race([once(a.child, 'exit'), once(b.child, 'exit')]).then(() => {
        throw new Error('a cache process exited before it was ready');
      });
      await Promise.race([ready, exited]);
    });

    afterAll(async () => {
      for (const machine of [a, b]) {
        if (machine === undefined || machine.child.exitCode !== null) continue;
        const exit = once(machine.child, 'exit');
        try {
          await machine.peer.request('close');
          await exit;
        } catch {
          machine.child.kill('SIGKILL');
          await exit;
        }
      }
    });

    test('A and B load; A invalidates; B reloads on its next get', async () => {
      versions.set('shared', 1);
      expect(await read(a, 'shared')).toBe(1);
      expect(await read(b, 'shared')).toBe(1);
      expect(await read(b, 'shared')).toBe(1);
      expect(loadsServed.get('A')).toBe(1);
      expect(loadsServed.get('B')).toBe(1);

      versions.set('shared', 2);
      await a.peer.request('invalidate', { key: 'shared' });
      expect(await read(b, 'shared')).toBe(2);
      expect(loadsServed.get('B')).toBe(2);
      expect(await read(b, 'shared')).toBe(2);
      expect(await read(a, 'shared')).toBe(2);
      expect(loadsServed.get('A')).toBe(2);
      expect(loadsServed.get('B')).toBe(2);
    });

    test('under load with invalidations in between, no read is older than the last completed invalidation', async () => {
      const keys = ['hot-0', 'hot-1', 'hot-2'];
      for (const key of keys) versions.set(key, 1);
      // The version of the last invalidation of each key that had completed (acknowledged).
      const completed = new Map(keys.map((key) => [key, 1]));
      const violations: string[] = [];
      let reads = 0;
      let done = false;

      const reader = async (machine: Machine, seed: number): Promise<void> => {
        let i = seed;
        while (!done) {
          const key = keys[i++ % keys.length] as string;
          const floor = completed.get(key) ?? 1; // captured before the read begins
          const version = await read(machine, key);
          reads += 1;
          if (version < floor) {
            violations.push(
              `${machine.name} read ${key}@${version} after ${key}@${floor} was invalidated`,
            );
          }
        }
      };

      const invalidations = 60;
      const invalidator = async (): Promise<void> => {
        for (let i = 0; i < invalidations; i++) {
          const key = keys[i % keys.length] as string;
          const next = (versions.get(key) ?? 1) + 1;
          versions.set(key, next); // the source changes, then the cache is told
          await (i % 2 === 0 ? a : b).peer.request('invalidate', { key });
          completed.set(key, next);
          // Let some reads land between invalidations.
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        done = true;
      };

      const before = { A: await stats(a), B: await stats(b) };
      await Promise.all([
        invalidator(),
        ...[0, 1, 2, 3].map((seed) => reader(a, seed)),
        ...[0, 1, 2, 3].map((seed) => reader(b, seed + 1)),
      ]);

      expect(violations).toEqual([]);
      // Every invalidation has completed: both processes now read the final versions.
      for (const key of keys) {
        expect(await read(a, key)).toBe(versions.get(key));
        expect(await read(b, key)).toBe(versions.get(key));
      }
      const after = { A: await stats(a), B: await stats(b) };
      for (const name of ['A', 'B'] as const) {
        // The processes really cached (hits) and really reloaded (loads) during the run.
        expect(after[name].hits).toBeGreaterThan(before[name].hits);
        expect(after[name].loads).toBeGreaterThan(before[name].loads);
        expect(after[name].errors).toBe(0);
      }
      expect(reads).toBeGreaterThan(invalidations);
    });
  });
}
