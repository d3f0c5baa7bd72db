import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';
import { spawnServer } from './spawn-server.js';

/** A memcached child process this module started, listening on 127.0.0.1. */
export interface MemcachedServer {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** TCP port it listens on; the same after {@link MemcachedServer.restart}. */
  readonly port: number;
  /** `127.0.0.1:PORT`, the form `MemcachedCacheStore`'s `servers` option takes. */
  readonly address: string;
  /** Whether the process is running (started and not stopped or exited). */
  readonly running: boolean;
  /** Ends the process (SIGTERM, SIGKILL after 5 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** Stops the process if it runs, then starts a fresh, empty one on the same port. */
  restart(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP): connections stay open and requests go unanswered, as with
   * a hung server or a network partition. Resolves once every thread of it has stopped
   * (signals are delivered asynchronously), so nothing sent afterwards is answered.
   * {@link MemcachedServer.resume} thaws it; `stop()` thaws it first.
   */
  pause(): Promise<void>;
  /** Thaws a paused process (SIGCONT); it answers what was sent meanwhile. */
  resume(): void;
}

/** Options of {@link startMemcached}. */
export interface StartMemcachedOptions {
  /** Port to listen on; a free one by default. */
  readonly port?: number;
  /** Item memory, in megabytes (`-m`). Default 64. */
  readonly memoryMb?: number;
}

const READY_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const STDERR_TAIL_CHARS = 4_000;

/** Every child still running, so the exit hook can end what a crashed test left behind. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a signal is all there is time for.
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

function findMemcachedBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'memcached');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    'memcached is not installed (no `memcached` on PATH). Install the Debian package: ' +
      '`apt-get update && apt-get install -y memcached` (the test script does this).',
  );
}

/**
 * Starts a memcached on 127.0.0.1 as a child process of this one (in the foreground, not
 * daemonized) and resolves once it answers `stats` with its own pid. The caller owns it: call `stop()`
 * (in `afterAll` or `finally`). A process exit hook kills any server still running, so a
 * crashed test does not leave one behind.
 *
 * @throws Error when the `memcached` binary is missing or the server does not come up.
 *
 * @example
 * ```ts
 * const server = await startMemcached();
 * try {
 *   const store = new MemcachedCacheStore({ servers: server.address });
 *   // ...
 * } finally {
 *   await server.stop();
 * }
 * ```
 */
export async function startMemcached(
  options: StartMemcachedOptions = {},
): Promise<MemcachedServer> {
  const binary = findMemcachedBinary();
  const memoryMb = options.memoryMb ?? 64;
  if (!Number.isSafeInteger(memoryMb) || memoryMb < 1) {
    throw new Error(`memoryMb must be a positive integer, got ${memoryMb}.`);
  }
  installExitHook();

  // A free port can be taken between freePort() and memcached's bind: retry on a new one.
  let lastError: unknown;
  for (let attempt = 0; attempt < (options.port === undefined ? 3 : 1); attempt++) {
    const port = options.port ?? (await freePort());
    const server = new ChildMemcached(binary, port, memoryMb);
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

class ChildMemcached implements MemcachedServer {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly address: string;
  readonly #binary: string;
  readonly #memoryMb: number;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stderr = '';

  constructor(binary: string, port: number, memoryMb: number) {
    this.#binary = binary;
    this.port = port;
    this.address = `${this.host}:${port}`;
    this.#memoryMb = memoryMb;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  async start(): Promise<void> {
    const args = [
      '-l',
      this.host,
      '-p',
      String(this.port),
      '-m',
      String(this.#memoryMb),
      '-U',
      '0',
    ];
    // memcached refuses to run as root unless told which user to run as.
    if (process.getuid?.() === 0) args.unshift('-u', 'root');
    const child = spawnServer(this.#binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    this.#stderr = '';
    liveChildren.add(child);
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        liveChildren.delete(child);
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
      // Spawn failures (ENOENT, EACCES) emit 'error' and may never emit 'exit'.
      child.once('error', (error) => {
        this.#stderr += String(error);
        liveChildren.delete(child);
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_TAIL_CHARS);
    });
    // A server the test forgot to stop must not keep the process alive; the exit hook ends it.
    child.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    try {
      await this.#waitReady(child);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async pause(): Promise<void> {
    const child = this.#child;
    if (child?.pid === undefined) throw new Error(`memcached on port ${this.port} is not running.`);
    child.kill('SIGSTOP');
    const deadline = Date.now() + 5_000;
    while (!allThreadsStopped(child.pid)) {
      if (Date.now() > deadline) throw new Error(`memcached pid ${child.pid} did not stop.`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) {
      await this.#exited;
      return;
    }
    // A stopped (paused) process would not act on SIGTERM until continued.
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async #waitReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + READY_DEADLINE_MS;
    for (;;) {
      if (this.#child !== child) {
        throw new Error(
          `memcached on port ${this.port} exited before it was ready: ${this.#stderr.trim() || '(no output)'}`,
        );
      }
      // Compare pids: the port may still be served by another process (our bind failed).
      if ((await servingPid(this.host, this.port)) === child.pid) return;
      if (Date.now() > deadline) {
        throw new Error(
          `memcached on port ${this.port} did not answer stats within ${READY_DEADLINE_MS} ms: ${this.#stderr.trim()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** Whether every thread of `pid` is in the stopped state (Linux /proc; true if it is gone). */
function allThreadsStopped(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  return tasks.every((task) => {
    try {
      // The state follows the parenthesised command name: "pid (comm) S ...".
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state === 'T' || state === 't';
    } catch {
      return true;
    }
  });
}

/** The pid memcached on host:port reports in `stats`, or `undefined` if none answers within 1 s. */
function servingPid(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    const finish = (pid: number | undefined): void => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1_000, () => finish(undefined));
    socket.once('error', () => finish(undefined));
    socket.once('connect', () => socket.write('stats\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      reply += text;
      if (!reply.includes('END\r\n')) return;
      const match = /^STAT pid (\d+)\r$/m.exec(reply);
      finish(match?.[1] === undefined ? undefined : Number(match[1]));
    });
  });
}
