import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Datastore } from '@google-cloud/datastore';
import { freePort } from './free-port.js';

/** The emulator launcher shipped with the Google Cloud SDK (a bash script that runs java). */
const EMULATOR_SCRIPT =
  '/usr/lib/google-cloud-sdk/platform/cloud-datastore-emulator/cloud_datastore_emulator';

/** Project id the emulators started here serve (the emulator accepts any id). */
const PROJECT_ID = 'shardcount-test';

/** How long to wait for `GET /` to answer `Ok`; 1–3 s usually, far more on a busy 2-core box. */
const START_DEADLINE_MS = 60_000;
/** Interval between health probes while starting. */
const HEALTH_POLL_INTERVAL_MS = 100;
/** How long a graceful `POST /shutdown` may take before the process group is killed. */
const SHUTDOWN_GRACE_MS = 10_000;
/** How long to wait after SIGTERM before SIGKILL. */
const TERM_GRACE_MS = 5_000;
/** Emulator output kept for error messages, in characters. */
const OUTPUT_TAIL_CHARS = 8_000;
/** Attempts to start when the emulator dies before it is healthy (e.g. a port race). */
const START_ATTEMPTS = 3;

/**
 * Runs the emulator script (`$0`, arguments `$@`) under a watchdog in the same process
 * group: the watchdog waits for end-of-file on the pipe from this Node process and then
 * kills the whole group. Node closes that pipe in `stop()` and the kernel closes it when
 * Node dies in any way (even SIGKILL, when no exit hook runs), so no emulator outlives
 * the test run. Background commands read /dev/null unless redirected, hence fd 3. The
 * watchdog ignores the TERM it sends, so that it then removes the emulator's working
 * directory (`SHARDCOUNT_EMULATOR_WORK_DIR`), which a killed Node process cannot.
 */
const WATCHDOG_SCRIPT = [
  'exec 3<&0',
  '"$0" "$@" </dev/null & emulator=$!',
  '(trap "" TERM; read -r _ <&3; kill -TERM -- -$$ 2>/dev/null;',
  ' [ -n "$SHARDCOUNT_EMULATOR_WORK_DIR" ] && rm -rf -- "$SHARDCOUNT_EMULATOR_WORK_DIR") &',
  'wait "$emulator"',
].join('\n');

/**
 * A Cloud Datastore emulator this process started. Every instance owns its child process
 * group: {@link DatastoreEmulator.stop} ends exactly that group; a process `exit` hook kills
 * any group a failed test run left behind, and a watchdog in the group ends it when this
 * process dies without running hooks.
 */
export interface DatastoreEmulator {
  /** Host the emulator listens on (`127.0.0.1`). */
  readonly host: string;
  /** TCP port the emulator listens on. */
  readonly port: number;
  /**
   * The emulator's working directory: a fresh temporary directory (it writes
   * `WEB-INF/appengine-generated/` there), removed by {@link DatastoreEmulator.stop}.
   */
  readonly workDir: string;
  /** `host:port`, the form `DATASTORE_EMULATOR_HOST` and {@link createEmulatorClient} take. */
  readonly address: string;
  /** Project id to use with this emulator. */
  readonly projectId: string;
  /** A new `Datastore` client talking to this emulator; the caller closes its clients. */
  createClient(options?: { namespace?: string }): Datastore;
  /** Deletes every entity in every namespace (`POST /reset`). */
  reset(): Promise<void>;
  /**
   * Freezes the emulator's processes (SIGSTOP): connections stay open and requests go
   * unanswered, as with a hung server or a network partition. Resolves once every thread
   * of them has stopped, so nothing sent afterwards is answered. {@link DatastoreEmulator.resume}
   * thaws them; `stop()` thaws them first.
   */
  pause(): Promise<void>;
  /** Thaws a paused emulator (SIGCONT); it then answers what was sent meanwhile. */
  resume(): void;
  /**
   * Stops the emulator, waits until its processes have exited and removes its working
   * directory. Safe to call twice.
   */
  stop(): Promise<void>;
}

/** Options of {@link startDatastoreEmulator}. */
export interface StartDatastoreEmulatorOptions {
  /**
   * `firestore-in-datastore` (default) emulates the mode new Google Cloud projects get;
   * `legacy` emulates classic Cloud Datastore (entity-group limits, faster here).
   */
  readonly mode?: 'firestore-in-datastore' | 'legacy';
  /**
   * TCP port to listen on; a free one by default. Give the port of an emulator stopped
   * earlier to bring "the same" Datastore back at the same address (empty: the emulator
   * keeps data in memory). Starting fails when the port is taken.
   */
  readonly port?: number;
}

/** Process groups started here and not stopped yet, killed on process exit. */
const leftovers = new Set<number>();
/** Working directories of emulators not stopped yet, removed on process exit. */
const leftoverDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a signal and a synchronous removal are all we can do.
  process.on('exit', () => {
    for (const pgid of leftovers) killGroup(pgid, 'SIGKILL');
    for (const dir of leftoverDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Signals the whole process group; the group is ours because we created it (detached). */
function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group has already gone
  }
}

function groupAlive(pgid: number): boolean {
  return killGroup(pgid, 0);
}

/**
 * Starts the Cloud Datastore emulator from the installed Google Cloud SDK on a free port
 * of 127.0.0.1 (or on `options.port`), in memory (`--store_on_disk=false`) with strong
 * consistency, in a fresh temporary working directory, and resolves once `GET /` answers
 * `Ok`. Rejects (after cleaning up) when it is not healthy within 60 s or exits while
 * starting; the error carries the tail of the emulator's output.
 *
 * @example
 * ```ts
 * const emulator = await startDatastoreEmulator();
 * try {
 *   const datastore = emulator.createClient({ namespace: 'my-test' });
 *   // ...
 * } finally {
 *   await emulator.stop();
 * }
 * ```
 */
export async function startDatastoreEmulator(
  options: StartDatastoreEmulatorOptions = {},
): Promise<DatastoreEmulator> {
  const mode = options.mode ?? 'firestore-in-datastore';
  const { port } = options;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    throw new RangeError(`A TCP port must be an integer from 1 to 65535, got ${String(port)}.`);
  }
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      if (port !== undefined) await assertPortFree(port);
      return await startOnce(mode, port ?? (await freePort()));
    } catch (error) {
      lastError = error;
      // Only an early exit (typically a port taken between freePort() and bind) is worth
      // retrying, and only on another free port.
      if (!(error instanceof EarlyExitError) || port !== undefined) throw error;
    }
  }
  throw lastError;
}

class EarlyExitError extends Error {}

/**
 * Fails when something already listens on `port` of 127.0.0.1: the health check would
 * otherwise take that server's `Ok` (an emulator not stopped yet) for ours.
 */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', (error) => {
      reject(new Error(`Port ${port} of 127.0.0.1 is taken: ${error.message}`, { cause: error }));
    });
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

async function startOnce(
  mode: NonNullable<StartDatastoreEmulatorOptions['mode']>,
  port: number,
): Promise<DatastoreEmulator> {
  const host = '127.0.0.1';
  const address = `${host}:${port}`;
  const args = [
    'start',
    `--host=${host}`,
    `--port=${port}`,
    '--store_on_disk=false',
    '--consistency=1.0',
    ...(mode === 'firestore-in-datastore' ? ['--firestore_in_datastore_mode'] : []),
  ];
  // The emulator writes WEB-INF/appengine-generated/ into its working directory, even in
  // memory: give it one of its own instead of whatever directory the tests run in.
  const workDir = await mkdtemp(join(tmpdir(), 'shardcount-datastore-emulator-'));
  installExitHook();
  leftoverDirs.add(workDir);
  const removeWorkDir = async (): Promise<void> => {
    await rm(workDir, { recursive: true, force: true });
    leftoverDirs.delete(workDir);
  };
  // detached: the watchdog, the script and the java it forks share a new process group
  // that we can signal as one.
  const child = spawn('bash', ['-c', WATCHDOG_SCRIPT, EMULATOR_SCRIPT, ...args], {
    cwd: workDir,
    env: { ...process.env, SHARDCOUNT_EMULATOR_WORK_DIR: workDir },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin?.on('error', () => undefined); // EPIPE once the watchdog has gone
  const pgid = child.pid;
  if (pgid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    await removeWorkDir();
    const message = `Could not start the Datastore emulator (${EMULATOR_SCRIPT}): ${error.message}`;
    throw new Error(message, { cause: error });
  }
  leftovers.add(pgid);

  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  // Always drain the pipes: a full pipe would block the emulator.
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  const stop = stopper(child, pgid, address, exited, removeWorkDir);
  try {
    await waitHealthy(address, child, exited, () => output);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    host,
    port,
    address,
    workDir,
    projectId: PROJECT_ID,
    createClient: (clientOptions = {}) => createEmulatorClient(address, PROJECT_ID, clientOptions),
    reset: async () => {
      const response = await fetch(`http://${address}/reset`, {
        method: 'POST',
        signal: AbortSignal.timeout(30_000),
      });
      if (!response.ok) {
        throw new Error(`Datastore emulator reset failed: HTTP ${response.status}`);
      }
    },
    pause: async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`The Datastore emulator on ${address} is not running.`);
      }
      killGroup(pgid, 'SIGSTOP');
      const deadline = Date.now() + 5_000;
      while (!groupStopped(pgid)) {
        if (Date.now() > deadline)
          throw new Error(`The Datastore emulator on ${address} did not stop.`);
        await sleep(25);
      }
    },
    resume: () => {
      killGroup(pgid, 'SIGCONT');
    },
    stop,
  };
}

/**
 * Whether every thread of every process in group `pgid` is in the stopped state (Linux
 * /proc; processes or threads that end while we look count as stopped).
 */
function groupStopped(pgid: number): boolean {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const stat = readStat(`/proc/${pid}/stat`);
    if (stat === undefined || stat.pgrp !== pgid) continue;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      const state = readStat(`/proc/${pid}/task/${task}/stat`)?.state;
      if (state !== undefined && state !== 'T' && state !== 't') return false;
    }
  }
  return true;
}

/** State and process group from a /proc `stat` line: "pid (comm) STATE ppid pgrp ...". */
function readStat(path: string): { state: string; pgrp: number } | undefined {
  try {
    const line = readFileSync(path, 'utf8');
    // comm may contain spaces and parentheses: the fields start after the last ')'.
    const [state = '', , pgrp] = line.slice(line.lastIndexOf(')') + 2).split(' ');
    return { state, pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

async function waitHealthy(
  address: string,
  child: ChildProcess,
  exited: Promise<void>,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  while (Date.now() < deadline) {
    if (hasExited) {
      throw new EarlyExitError(
        `The Datastore emulator exited while starting (code ${child.exitCode}, signal ${child.signalCode}). Output:\n${output()}`,
      );
    }
    try {
      const response = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok && (await response.text()).trim() === 'Ok') return;
    } catch {
      // not listening yet
    }
    await sleep(HEALTH_POLL_INTERVAL_MS);
  }
  throw new Error(
    `The Datastore emulator on ${address} was not healthy after ${START_DEADLINE_MS} ms. Output:\n${output()}`,
  );
}

/** Builds the idempotent stop function of one emulator. */
function stopper(
  child: ChildProcess,
  pgid: number,
  address: string,
  exited: Promise<void>,
  cleanUp: () => Promise<void>,
): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const waitExit = async (ms: number): Promise<boolean> => {
    const timer = sleep(ms, false, { ref: false });
    return Promise.race([exited.then(() => true), timer]);
  };
  const run = async (): Promise<void> => {
    // A paused (SIGSTOPped) emulator would neither answer /shutdown nor act on SIGTERM.
    killGroup(pgid, 'SIGCONT');
    if (child.exitCode === null && child.signalCode === null) {
      try {
        await fetch(`http://${address}/shutdown`, {
          method: 'POST',
          signal: AbortSignal.timeout(5_000),
        });
      } catch {
        // not answering: fall through to signals
      }
      if (!(await waitExit(SHUTDOWN_GRACE_MS))) {
        killGroup(pgid, 'SIGTERM');
        if (!(await waitExit(TERM_GRACE_MS))) killGroup(pgid, 'SIGKILL');
        await waitExit(TERM_GRACE_MS);
      }
    }
    // The emulator has exited; end-of-file makes the watchdog end whatever is left.
    child.stdin?.end();
    for (let i = 0; i < 50 && groupAlive(pgid); i++) {
      if (i === 20) killGroup(pgid, 'SIGKILL');
      await sleep(100);
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
    leftovers.delete(pgid);
    await cleanUp();
  };
  return () => {
    stopping ??= run();
    return stopping;
  };
}

/**
 * A `Datastore` client for the emulator at `address` (`host:port`), with insecure gRPC
 * credentials and no Google authentication, without touching `process.env`.
 *
 * @param address - `host:port` of the emulator, e.g. `127.0.0.1:8081`
 * @param projectId - project id to send (the emulator accepts any)
 * @param options - default namespace of the client's keys and queries
 */
export function createEmulatorClient(
  address: string,
  projectId: string,
  options: { namespace?: string } = {},
): Datastore {
  // With an apiEndpoint on 127.0.0.1/localhost, @google-cloud/datastore 10.x switches to
  // insecure channel credentials by itself. An explicit projectId and universeDomain keep
  // google-auth-library from looking for credentials, which would probe the GCE metadata
  // server and print a MetadataLookupWarning.
  return new Datastore({
    projectId,
    apiEndpoint: address,
    universeDomain: 'googleapis.com',
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  });
}
