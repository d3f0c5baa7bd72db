import type { Socket } from 'node:net';
import type memjs from 'memjs';

/**
 * The parts of a memjs 1.3.2 `Server` (lib/memjs/server.js) the guard reaches into. They
 * are not in memjs's typings; the version is pinned in package.json.
 */
interface MemjsServerInternals {
  _socket?: Socket | undefined;
  responseBuffer: Buffer;
  /** Deadlines of the requests written and not answered yet: their number is what is in flight. */
  requestTimeouts: unknown[];
  appendToBuffer(data: Buffer): Buffer;
  errorCallbacks: Record<number, unknown>;
  connectCallbacks: unknown[];
  sock(sasl: boolean, go: (socket: Socket) => void): void;
  write(blob: Buffer): void;
  error(error: Error): void;
  [guardKey]?: Set<Socket>;
}

const guardKey = Symbol.for('shardcount.memcachedSocketGuard');

type Listener = (...args: unknown[]) => void;

/**
 * Makes one memjs `Server` safe to keep using after connection failures, and returns the
 * set of sockets it has open (for {@link destroyServerSockets}). Installing it twice on the
 * same server is a no-op that returns the same set.
 *
 * What it fixes in memjs 1.3.2 (read from lib/memjs/server.js; the first and the last were seen in
 * runs against a real memcached, hung with SIGSTOP or closing the connection):
 * - A socket memjs has given up on (after a timeout it only `end()`s it) later fires its
 *   `close`/`error` handlers, which clear or destroy whatever socket the server uses by
 *   then: the new connection is orphaned, its requests are never written and never time
 *   out, and it keeps the process alive after `close()`. Here those handlers only run for
 *   the server's current socket, and a socket is destroyed as soon as memjs replaces it.
 * - Bytes of a half-received response stay in the server's response buffer and would be
 *   parsed in front of the next connection's responses; the buffer is emptied when a new
 *   connection starts.
 * - When memcached closes the connection, requests still waiting on it are never answered;
 *   here they fail at once (through memjs's own error path) instead of at their timeout.
 *
 * And two costs:
 * - memjs writes every request to the socket on its own (a system call each). Here a request
 *   written while others are in flight is corked with the rest of its turn of the event loop,
 *   and they leave in one `writev` when the turn's callbacks and promise continuations are
 *   done, so 64 calls in flight cost a few system calls instead of 64. A request written
 *   while none is in flight (one call at a time) leaves at once: nothing could join it, and
 *   deferring it would only add latency.
 * - memjs copies every chunk it reads into a new response buffer, even when no partial
 *   response waits there; here such a chunk is parsed where it is.
 */
export function guardMemjsServer(server: memjs.Server): Set<Socket> {
  const internals = server as unknown as MemjsServerInternals;
  const existing = internals[guardKey];
  if (existing !== undefined) return existing;
  const sockets = new Set<Socket>();
  internals[guardKey] = sockets;

  const originalSock = internals.sock;
  const originalWrite = internals.write;
  const originalAppend = internals.appendToBuffer;
  internals.write = function corkedWrite(this: MemjsServerInternals, blob: Buffer): void {
    const socket = this._socket;
    if (
      socket !== undefined &&
      this.requestTimeouts.length > 0 &&
      !socket.connecting &&
      socket.writableCorked === 0
    ) {
      socket.cork();
      process.nextTick(uncork, socket);
    }
    originalWrite.call(this, blob);
  };
  internals.appendToBuffer = function appendChunk(
    this: MemjsServerInternals,
    data: Buffer,
  ): Buffer {
    // Node hands every read its own buffer, so keeping it (and slices of it) is safe.
    if (this.responseBuffer.length > 0) return originalAppend.call(this, data);
    this.responseBuffer = data;
    return data;
  };

  internals.sock = function guardedSock(
    this: MemjsServerInternals,
    sasl: boolean,
    go: (socket: Socket) => void,
  ): void {
    const before = this._socket;
    if (before === undefined) {
      // memjs is about to connect afresh: every socket it had is abandoned.
      for (const stale of sockets) stale.destroy();
      sockets.clear();
      this.responseBuffer = Buffer.alloc(0);
    }
    originalSock.call(this, sasl, go);
    const created = this._socket;
    if (created !== undefined && created !== before) adopt(this, created, sockets);
  };
  return sockets;
}

/**
 * Destroys every socket a guarded server has open and fails the requests waiting on them
 * (memjs reconnects on the next request).
 */
export function destroyServerSockets(server: memjs.Server, reason: Error): void {
  const internals = server as unknown as MemjsServerInternals;
  // memjs's error() destroys the current socket and calls every pending error callback.
  internals.error(reason);
  const sockets = internals[guardKey];
  if (sockets === undefined) return;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
}

function uncork(socket: Socket): void {
  socket.uncork();
}

function adopt(server: MemjsServerInternals, socket: Socket, sockets: Set<Socket>): void {
  sockets.add(socket);
  const memjsOnClose = socket.listeners('close') as Listener[];
  const memjsOnError = socket.listeners('error') as Listener[];
  socket.removeAllListeners('close');
  socket.removeAllListeners('error');
  socket.on('close', (...args: unknown[]) => {
    sockets.delete(socket);
    if (server._socket !== socket) return;
    for (const listener of memjsOnClose) listener.apply(socket, args);
    const waiting =
      Object.keys(server.errorCallbacks).length > 0 || server.connectCallbacks.length > 0;
    if (waiting) server.error(new Error('memcached closed the connection'));
  });
  // An error listener must stay: an 'error' without one would crash the process.
  socket.on('error', (...args: unknown[]) => {
    if (server._socket !== socket) return;
    for (const listener of memjsOnError) listener.apply(socket, args);
  });
}
