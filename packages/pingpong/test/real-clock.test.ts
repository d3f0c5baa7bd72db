import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  type DatastoreEmulator,
  type MemcachedServer,
  realCacheStore,
  realEntityStore,
  startDatastoreEmulator,
  startMemcached,
  TYPESCRIPT_RUNNER,
} from '@shardcount/test-services';
import { v4 as uuid } from 'uuid';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { type CounterLoss, PingPongCounter, slotKey } from '../src/index.js';
import type { CounterProcessResult } from './fixtures/counter-process.js';
import { FakeClock, INTERVAL_MS } from './support/environment.js';
import { inParallel } from './support/scenarios.js';

// Real memcached, real emulator and, where time matters, the real clock: memcached expires
// keys on a whole-second clock of its own, which no fake clock reproduces.

const runner = TYPESCRIPT_RUNNER;
const counterProcess = fileURLToPath(new URL('./fixtures/counter-process.ts', import.meta.url));

interface ProcessConfig {
  readonly emulatorAddress: string;
  readonly datastoreNamespace: string;
  readonly namespace: string;
  readonly names: readonly string[];
  readonly intervalMs: number;
  readonly runMs: number;
  readonly flushEveryMs: number;
  readonly callTimeoutMs: number;
}

/** Starts a counter process: `ready` once it increments, `result` once it has finished. */
function runCounterProcess(config: ProcessConfig): {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<CounterProcessResult>;
} {
  const child = fork(runner, [counterProcess], {
    env: {
      ...process.env,
      PP_MEMCACHED: inject('memcachedAddress'),
      PP_EMULATOR: config.emulatorAddress,
      PP_PROJECT: inject('datastoreProjectId'),
      PP_DS_NAMESPACE: config.datastoreNamespace,
      PP_NAMESPACE: config.namespace,
      PP_NAMES: config.names.join(','),
      PP_INTERVAL_MS: String(config.intervalMs),
      PP_RUN_MS: String(config.runMs),
      PP_FLUSH_EVERY_MS: String(config.flushEveryMs),
      PP_CALL_TIMEOUT_MS: String(config.callTimeoutMs),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const messages: unknown[] = [];
  let wake: () => void = () => {};
  child.on('message', (message) => {
    messages.push(message);
    wake();
  });
  const next = async (kind: string): Promise<unknown> => {
    for (;;) {
      const found = messages.find((m) => (m as { kind?: string }).kind === kind);
      if (found !== undefined) return found;
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), exited]);
      if (
        child.exitCode !== null &&
        !messages.some((m) => (m as { kind?: string }).kind === kind)
      ) {
        throw new Error(`counter process exited with ${child.exitCode} before sending '${kind}'`);
      }
    }
  };
  const ready = next('ready').then(() => undefined);
  const result = (async () => {
    const message = (await next('result')) as CounterProcessResult;
    await exited;
    return message;
  })();
  return { child, ready, result };
}

function counterOn(
  cache: ReturnType<typeof realCacheStore>,
  store: ReturnType<typeof realEntityStore>,
  namespace: string,
  extra: Partial<ConstructorParameters<typeof PingPongCounter>[0]> = {},
): PingPongCounter {
  return new PingPongCounter({ cache, store, namespace, intervalMs: 1000, ...extra });
}

describe('PingPongCounter on the real clock (memcached + Datastore emulator)', () => {
  it('keeps a slot for retentionMs after its epoch ends, on memcached’s whole-second clock', async () => {
    const cache = realCacheStore();
    const store = realEntityStore();
    const namespace = `pp-${uuid().slice(0, 8)}`;
    const counter = counterOn(cache, store, namespace, {
      retentionMs: 4_000,
      registrationDelayMs: 60_000,
    });
    try {
      // Start right after an epoch begins: the slot then lives the longest before its epoch
      // ends, which is when the TTL is tightest.
      await sleep(1000 - (Date.now() % 1000) + 5);
      const epoch = Math.floor(Date.now() / 1000);
      await counter.increment('kept', 4);
      expect(counter.slotTtlSeconds).toBe(7); // ceil((4,000 + 1,500) / 1,000) + 1
      const key = slotKey(namespace, 'kept', epoch, 'up');
      await sleep((epoch + 1) * 1000 + 4_000 - Date.now()); // retentionMs after the epoch end
      expect(await cache.get(key)).toBe(4);
      await sleep((epoch + 1) * 1000 + 7_000 - Date.now()); // past the TTL on any phase
      expect(await cache.get(key)).toBeUndefined();
    } finally {
      await counter.close();
      await cache.close();
      await store.close();
    }
  }, 20_000);

  it('intervalMs 1000: a first flush ten intervals after the increments moves them exactly', async () => {
    const cache = realCacheStore();
    const store = realEntityStore();
    const namespace = `pp-${uuid().slice(0, 8)}`;
    const [a, b] = [counterOn(cache, store, namespace), counterOn(cache, store, namespace)];
    const flusher = counterOn(cache, store, namespace);
    try {
      await inParallel(6, 50, (w) => (w % 2 === 0 ? a : b).increment('views'));
      expect((await a.get('views')).total).toBe(300);
      await sleep(10_500);
      const reports = await Promise.all([flusher.flush(), a.flush(), b.flush()]);
      expect(reports.flatMap((r) => r.errors)).toEqual([]);
      expect(reports.reduce((sum, r) => sum + r.moved, 0)).toBe(300);
      expect(await flusher.get('views')).toMatchObject({ durable: 300, pending: 0, total: 300 });
      expect((await flusher.flush()).moved).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close(), flusher.close()]);
      await cache.close();
      await store.close();
    }
  }, 30_000);

  it('two OS processes incrementing and flushing every 50 ms end exact', async () => {
    const datastoreNamespace = `test-${uuid()}`;
    const namespace = `pp-${uuid().slice(0, 8)}`;
    const names = ['a', 'b', 'c'];
    const config: ProcessConfig = {
      emulatorAddress: inject('datastoreEmulatorAddress'),
      datastoreNamespace,
      namespace,
      names,
      intervalMs: 1000,
      runMs: 4_000,
      flushEveryMs: 50,
      callTimeoutMs: 10_000,
    };
    const results = await Promise.all([
      runCounterProcess(config).result,
      runCounterProcess(config).result,
    ]);
    const cache = realCacheStore();
    const store = realEntityStore({ namespace: datastoreNamespace });
    const flusher = counterOn(cache, store, namespace);
    try {
      const cached = results.reduce((sum, r) => sum + r.cached, 0);
      const uncertain = results.reduce((sum, r) => sum + r.uncertain, 0);
      expect(cached).toBeGreaterThan(200);
      expect(results.every((r) => r.flushes > 5)).toBe(true);
      await sleep(2_500); // the last epochs close
      const last = await flusher.flush();
      expect(last.errors).toEqual([]);
      const moved = results.reduce((sum, r) => sum + r.moved, last.moved);
      // Exact, except that a cache call that timed out may or may not have been applied.
      expect(moved - cached).toBeGreaterThanOrEqual(0);
      expect(moved - cached).toBeLessThanOrEqual(uncertain);
      const values = await Promise.all(names.map((name) => flusher.get(name)));
      expect(values.reduce((sum, v) => sum + v.durable, 0)).toBe(moved);
      expect(values.every((v) => v.pending === 0)).toBe(true);
    } finally {
      await flusher.close();
      await cache.close();
      await store.close();
    }
  }, 60_000);

  describe('with a Datastore emulator of its own', () => {
    let emulator: DatastoreEmulator;

    beforeAll(async () => {
      emulator = await startDatastoreEmulator();
    }, 90_000);

    afterAll(async () => {
      emulator?.resume();
      await emulator?.stop();
    });

    it('Datastore unreachable for 20 intervals while two processes keep incrementing: everything moves once it is back, exactly once', async () => {
      const datastoreNamespace = `test-${uuid()}`;
      const namespace = `pp-${uuid().slice(0, 8)}`;
      const names = ['x', 'y'];
      const config: ProcessConfig = {
        emulatorAddress: emulator.address,
        datastoreNamespace,
        namespace,
        names,
        intervalMs: 1000,
        runMs: 27_000,
        flushEveryMs: 200,
        callTimeoutMs: 500,
      };
      const children = [runCounterProcess(config), runCounterProcess(config)];
      await Promise.all(children.map((c) => c.ready));
      await sleep(4_000); // both run, register and flush normally
      await emulator.pause();
      await sleep(20_000); // 20 intervals without a store; increments continue
      emulator.resume();
      const results = await Promise.all(children.map((c) => c.result));
      const { DatastoreEntityStore } = await import('@shardcount/storage/datastore');
      const store = new DatastoreEntityStore({
        datastore: emulator.createClient({ namespace: datastoreNamespace }),
      });
      const cache = realCacheStore();
      const flusher = counterOn(cache, store, namespace);
      try {
        expect(results.every((r) => r.flushErrors > 0)).toBe(true); // the outage was seen
        await sleep(2_500);
        const last = await flusher.flush();
        expect(last.errors).toEqual([]);
        const cached = results.reduce((sum, r) => sum + r.cached, 0);
        const uncertain = results.reduce((sum, r) => sum + r.uncertain, 0);
        const moved = results.reduce((sum, r) => sum + r.moved, last.moved);
        // Exact, except that a cache call that timed out may or may not have been applied.
        expect(moved - cached).toBeGreaterThanOrEqual(0);
        expect(moved - cached).toBeLessThanOrEqual(uncertain);
        const values = await Promise.all(names.map((name) => flusher.get(name)));
        expect(values.reduce((sum, v) => sum + v.durable, 0)).toBe(moved);
        expect(values.every((v) => v.pending === 0)).toBe(true);
      } finally {
        await flusher.close();
        await cache.close();
        await store.close();
      }
    }, 90_000);
  });
});

describe('PingPongCounter when a real memcached restarts between flushes', () => {
  let server: MemcachedServer;

  beforeAll(async () => {
    server = await startMemcached();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('the next flush reports the lost epoch; nothing is counted twice', async () => {
    const cache = realCacheStore({ address: server.address, timeoutMs: 1_000 });
    const store = realEntityStore();
    const clock = new FakeClock();
    const namespace = `pp-${uuid().slice(0, 8)}`;
    const losses: CounterLoss[] = [];
    const options = { cache, store, namespace, intervalMs: INTERVAL_MS, now: clock.now };
    const counter = new PingPongCounter({ ...options, onLoss: (loss) => losses.push(loss) });
    const lagging = new PingPongCounter({ ...options, now: () => clock.now() - INTERVAL_MS });
    try {
      const epoch = Math.floor(clock.now() / INTERVAL_MS);
      await inParallel(4, 10, () => counter.increment('restarted'));
      clock.closeEpoch();
      expect((await counter.flush({ names: ['restarted'] })).moved).toBe(40);
      await inParallel(2, 5, () => lagging.increment('restarted')); // 10 late, not yet flushed
      expect(await counter.get('restarted')).toMatchObject({ durable: 40, pending: 10 });

      await server.restart();
      await vi.waitFor(() => cache.get('probe'), { timeout: 10_000, interval: 100 });
      await inParallel(2, 3, () => counter.increment('restarted')); // 6 after the restart
      const report = await counter.flush({ names: ['restarted'] });
      expect(report.lost).toEqual([{ name: 'restarted', epochs: [epoch] }]);
      expect(losses).toEqual(report.lost);
      expect(counter.stats().lostEpochs).toBe(1);
      clock.closeEpoch();
      expect((await counter.flush({ names: ['restarted'] })).moved).toBe(6);
      // The 10 late increments died with memcached; the 40 drained ones stay counted once.
      expect(await counter.get('restarted')).toMatchObject({ durable: 46, pending: 0 });
    } finally {
      await counter.close();
      await lagging.close();
      await cache.close();
      await store.close();
    }
  }, 60_000);
});
