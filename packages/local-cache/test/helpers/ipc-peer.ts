/** The two ends of Node's IPC channel: `process` in a child, the `ChildProcess` in the parent. */
export interface IpcEndpoint {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

type Handler = (params: Record<string, unknown>) => unknown;

interface Request {
  readonly kind: 'request';
  readonly id: number;
  readonly method: string;
  readonly params: Record<string, unknown>;
}

interface Response {
  readonly kind: 'response';
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

function isRequest(message: unknown): message is Request {
  return typeof message === 'object' && message !== null && (message as Request).kind === 'request';
}

function isResponse(message: unknown): message is Response {
  return (
    typeof message === 'object' && message !== null && (message as Response).kind === 'response'
  );
}

/**
 * Request/response over a Node IPC channel, in both directions: the parent asks a child to
 * read or invalidate, and the child's value provider asks the parent for the source version.
 */
export class IpcPeer {
  readonly #endpoint: IpcEndpoint;
  readonly #handlers = new Map<string, Handler>();
  readonly #waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;

  constructor(endpoint: IpcEndpoint) {
    this.#endpoint = endpoint;
    endpoint.on('message', (message) => {
      if (isRequest(message)) void this.#answer(message);
      else if (isResponse(message)) this.#settle(message);
    });
  }

  /** Answers requests for `method` with `handler`'s result (or its error message). */
  handle(method: string, handler: Handler): void {
    this.#handlers.set(method, handler);
  }

  /** Calls `method` on the other side. */
  request(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#send({ kind: 'request', id, method, params } satisfies Request);
    });
  }

  /** Fails every request still waiting (the other side is gone). */
  failAll(error: Error): void {
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }

  async #answer(request: Request): Promise<void> {
    const handler = this.#handlers.get(request.method);
    try {
      if (handler === undefined) throw new Error(`no handler for ${request.method}`);
      const result = await handler(request.params);
      this.#send({ kind: 'response', id: request.id, ok: true, result } satisfies Response);
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.#send({ kind: 'response', id: request.id, ok: false, error: text } satisfies Response);
    }
  }

  #settle(response: Response): void {
    const waiter = this.#waiting.get(response.id);
    if (waiter === undefined) return;
    this.#waiting.delete(response.id);
    if (response.ok) waiter.resolve(response.result);
    else waiter.reject(new Error(response.error));
  }

  #send(message: Request | Response): void {
    if (this.#endpoint.send === undefined) throw new Error('no IPC channel');
    this.#endpoint.send(message);
  }
}
