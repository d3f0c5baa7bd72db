import { connect } from 'node:net';
import { ChildServer, findBinary, startOnFreePort } from './child-server.js';

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
  const binary = findBinary(
    ['memcached'],
    'Install the Debian package: `apt-get update && apt-get install -y memcached` (the test script does this).',
  );
  const memoryMb = options.memoryMb ?? 64;
  if (!Number.isSafeInteger(memoryMb) || memoryMb < 1) {
    throw new Error(`memoryMb must be a positive integer, got ${memoryMb}.`);
  }
  return startOnFreePort(options.port, async (port) => new ChildMemcached(binary, port, memoryMb));
}

class ChildMemcached extends ChildServer implements MemcachedServer {
  protected readonly label = 'memcached';
  readonly #memoryMb: number;

  constructor(binary: string, port: number, memoryMb: number) {
    super(binary, port);
    this.#memoryMb = memoryMb;
  }

  protected arguments(): string[] {
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
    return args;
  }

  protected servingPid(): Promise<number | undefined> {
    return servingPid(this.host, this.port);
  }

  stop(): Promise<void> {
    return this.stopProcess();
  }
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
