import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';
import { spawnServer } from './spawn-server.js';

const READY_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 4_000;

/** Every child still running, so the exit hook can end what a crashed test left behind. */
const liveChildren = new Set<ChildProcess>();
/** Working directories of servers still to remove. */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a signal and a synchronous removal is all there is.
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Remembers a server's working directory until {@link forgetDirectory} (or process exit) removes it. */
export function trackDirectory(dir: string): void {
  installExitHook();
  liveDirs.add(dir);
}

/** Removes a directory given to {@link trackDirectory}. */
export function forgetDirectory(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/**
 * The first of `names` that is an executable on PATH.
 *
 * @throws Error with `installHint` when none is.
 */
export function findBinary(names: readonly string[], installHint: string): string {
  for (const name of names) {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (dir === '') continue;
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not in this directory
      }
    }
  }
  throw new Error(`None of ${names.join(', ')} is on PATH. ${installHint}`);
}

/**
 * Starts a server made by `create` on `port`, or on a free port with up to three attempts:
 * a free port can be taken between `freePort()` and the server's bind.
 */
export async function startOnFreePort<S extends ChildServer>(
  port: number | undefined,
  create: (port: number) => Promise<S>,
): Promise<S> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (port === undefined ? 3 : 1); attempt++) {
    const server = await create(port ?? (await freePort()));
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * A server binary this process runs as its child on 127.0.0.1 (memcached, Valkey): started
 * through `spawnServer` so it dies with this process, ready once the server on its port
 * reports the child's own pid, frozen and thawed with SIGSTOP/SIGCONT, stopped with SIGTERM
 * (SIGKILL after 5 s).
 */
export abstract class ChildServer {
  /** Always `127.0.0.1`. */
  readonly host = '127.0.0.1';
  /** TCP port it listens on, the same across restarts. */
  readonly port: number;
  /** `127.0.0.1:PORT`. */
  readonly address: string;
  /** What the server is called in messages, e.g. `memcached`. */
  protected abstract readonly label: string;
  readonly #binary: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  protected constructor(binary: string, port: number) {
    installExitHook();
    this.#binary = binary;
    this.port = port;
    this.address = `${this.host}:${port}`;
  }

  /** The command line arguments of one start. */
  protected abstract arguments(): string[];

  /** The pid of whatever server answers on this port now, `undefined` when none does. */
  protected abstract servingPid(): Promise<number | undefined>;

  /** Ends the server and releases what it holds. Idempotent. */
  abstract stop(): Promise<void>;

  /** Stops the process if it runs, then starts it again on the same port. */
  async restart(): Promise<void> {
    await this.stopProcess();
    await this.start();
  }

  /** Whether the process is running (started and not stopped or exited). */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the process and resolves once it serves its port; stops it again on failure. */
  async start(): Promise<void> {
    const child = spawnServer(this.#binary, this.arguments(), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#output = '';
    liveChildren.add(child);
    this.#exited = new Promise((resolve) => {
      const gone = (): void => {
        liveChildren.delete(child);
        if (this.#child === child) this.#child = undefined;
        resolve();
      };
      child.once('exit', gone);
      // Spawn failures (ENOENT, EACCES) emit 'error' and may never emit 'exit'.
      child.once('error', (error) => {
        this.#output += String(error);
        gone();
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => {
        this.#output = (this.#output + text).slice(-OUTPUT_TAIL_CHARS);
      });
      (stream as { unref?: () => void } | null)?.unref?.();
    }
    // A server a test forgot to stop must not keep the process alive; the exit hook ends it.
    child.unref();
    try {
      await this.#waitReady(child);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * Freezes the process (SIGSTOP): connections stay open and requests go unanswered, as with
   * a hung server or a network partition. Resolves once every thread of it has stopped
   * (signals are delivered asynchronously), so nothing sent afterwards is answered.
   */
  async pause(): Promise<void> {
    const child = this.#child;
    if (child?.pid === undefined)
      throw new Error(`${this.label} on port ${this.port} is not running.`);
    child.kill('SIGSTOP');
    const deadline = Date.now() + 5_000;
    while (!allThreadsStopped(child.pid)) {
      if (Date.now() > deadline) throw new Error(`${this.label} pid ${child.pid} did not stop.`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** Thaws a paused process (SIGCONT); it answers what was sent meanwhile. */
  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Ends the process (SIGTERM, SIGKILL after 5 s) and waits for it to exit. Idempotent. */
  protected async stopProcess(): Promise<void> {
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

  async #waitReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + READY_DEADLINE_MS;
    for (;;) {
      if (this.#child !== child) {
        throw new Error(
          `${this.label} on port ${this.port} exited before it was ready: ${this.#output.trim() || '(no output)'}`,
        );
      }
      // Compare pids: the port may still be served by another process (our bind failed).
      if ((await this.servingPid()) === child.pid) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.label} on port ${this.port} was not ready within ${READY_DEADLINE_MS} ms: ${this.#output.trim()}`,
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
