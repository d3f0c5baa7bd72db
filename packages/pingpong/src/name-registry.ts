/** A name to register, with the oldest epoch this process incremented it in since its last registration. */
export interface NotedName {
  /** The counter name. */
  readonly name: string;
  /** Oldest epoch of the increments being registered. */
  readonly epoch: number;
}

/** Writes registry entries durably for `names`; rejects when any could not be written. */
export type RegisterNames = (names: readonly NotedName[]) => Promise<void>;

/** Told about a failed registration round: how many names it carried, and the error. */
export type RegistrationFailed = (names: number, error: Error) => void;

/** Longest wait between registration attempts while the store keeps failing, in milliseconds. */
const MAX_RETRY_DELAY_MS = 60_000;

/** Most names written by one registration round; the rest wait for the next. */
const MAX_BATCH = 500;

/**
 * Keeps the datastore off the increment path while still making every counter known to
 * flushers. The first increment of a name in this process only notes the name (a `Set`
 * lookup); a timer writes the noted names in a batch shortly after, and retries with
 * backoff while the store is down. Flushes write pending names too, and drain them even
 * when they are not registered yet.
 *
 * A registration also tells flushers where to look: it carries the oldest epoch the
 * process incremented the name in, and brings an idle counter back. A process registers a
 * name again when its last registration is older than `touchEveryMs` (a quarter of the
 * retention), so a counter in use never turns idle.
 *
 * The trade-off: a name noted by a process that dies before the batch is written (within
 * `delayMs`, or while the store is down) is not registered by that process, and flushers do
 * not read the epochs of those increments unless another registration covers them.
 * `close()` writes pending names before returning.
 */
export class NameRegistry {
  readonly #write: RegisterNames;
  readonly #delayMs: number;
  readonly #maxRemembered: number;
  readonly #touchEveryMs: number;
  readonly #clock: () => number;
  readonly #onFailure: RegistrationFailed;
  /** Names known to be registered, with when; insertion order makes it a cheap LRU. */
  readonly #remembered = new Map<string, number>();
  /** Names to register, with the oldest epoch noted. */
  readonly #pending = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #failuresInARow = 0;
  #round: Promise<void> | undefined;
  #closed = false;
  /** Names registered by this process. */
  registered = 0;
  /** Registration rounds that failed. */
  failures = 0;

  /**
   * @param write - writes registry entries for a batch of names
   * @param delayMs - wait after a name is first noted before writing it, in milliseconds
   * @param maxRemembered - how many registered names to remember
   * @param touchEveryMs - register a name again once its registration is this old
   * @param clock - the counter's clock, in milliseconds
   * @param onFailure - told about every failed round (the names are retried)
   */
  constructor(
    write: RegisterNames,
    delayMs: number,
    maxRemembered: number,
    touchEveryMs: number,
    clock: () => number,
    onFailure: RegistrationFailed,
  ) {
    this.#clock = clock;
    this.#onFailure = onFailure;
    this.#write = write;
    this.#delayMs = delayMs;
    this.#maxRemembered = maxRemembered;
    this.#touchEveryMs = touchEveryMs;
  }

  /**
   * Notes that `name` was incremented in `epoch` at `nowMs`; schedules its registration
   * unless it was registered less than `touchEveryMs` ago. Never does I/O: on the hot path
   * of a known name it is one `Map` lookup and a subtraction.
   */
  note(name: string, epoch: number, nowMs: number): void {
    const registeredAt = this.#remembered.get(name);
    if (registeredAt !== undefined && nowMs - registeredAt < this.#touchEveryMs) return;
    const pending = this.#pending.get(name);
    if (pending !== undefined && pending <= epoch) return;
    if (pending === undefined && this.#inFlight.has(name)) {
      // Being written: a newer epoch is covered by it (the registration only lowers).
      if ((this.#inFlight.get(name) as number) <= epoch) return;
    }
    this.#pending.set(name, epoch);
    this.#schedule(this.#delayMs);
  }

  /** Records that `name`'s entity was registered (written or seen up to date) at `atMs`. */
  remember(name: string, atMs: number): void {
    this.#remembered.delete(name);
    this.#remembered.set(name, atMs);
    if (this.#remembered.size > this.#maxRemembered) {
      const oldest = this.#remembered.keys().next();
      if (!oldest.done) this.#remembered.delete(oldest.value);
    }
  }

  /** Forgets that `name` is registered, so its next increment registers it again. */
  forget(name: string): void {
    this.#remembered.delete(name);
  }

  /** Oldest epoch noted for `name` and not registered yet (pending or being written). */
  notedEpoch(name: string): number | undefined {
    const pending = this.#pending.get(name);
    const inFlight = this.#inFlight.get(name);
    if (pending === undefined) return inFlight;
    return inFlight === undefined ? pending : Math.min(pending, inFlight);
  }

  /** Names noted but not yet registered (including those being written now), with their oldest epoch. */
  unregistered(): Map<string, number> {
    const names = new Map(this.#inFlight);
    for (const [name, epoch] of this.#pending) {
      names.set(name, Math.min(epoch, names.get(name) ?? epoch));
    }
    return names;
  }

  /**
   * Writes every pending name now (waiting for a round already running first). Rejects
   * with the store's error when a batch fails; its names stay pending for the next round.
   */
  async registerPending(): Promise<void> {
    while (this.#round) await this.#round.catch(() => undefined);
    while (this.#pending.size > 0) {
      const round = this.#runRound();
      this.#round = round;
      try {
        await round;
      } finally {
        this.#round = undefined;
      }
    }
  }

  /** Stops the timer and makes a last attempt to write pending names; never rejects. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.registerPending().catch(() => undefined);
  }

  async #runRound(): Promise<void> {
    const batch = [...this.#pending].slice(0, MAX_BATCH).map(([name, epoch]) => ({ name, epoch }));
    for (const { name, epoch } of batch) {
      this.#pending.delete(name);
      this.#inFlight.set(name, epoch);
    }
    const startedAt = this.#clock();
    try {
      await this.#write(batch);
      this.#failuresInARow = 0;
      this.registered += batch.length;
      for (const { name } of batch) {
        this.#inFlight.delete(name);
        this.remember(name, startedAt);
      }
    } catch (error) {
      this.failures++;
      this.#failuresInARow++;
      for (const { name, epoch } of batch) {
        this.#inFlight.delete(name);
        const pending = this.#pending.get(name);
        this.#pending.set(name, Math.min(epoch, pending ?? epoch));
      }
      const backoff = Math.min(MAX_RETRY_DELAY_MS, this.#delayMs * 2 ** this.#failuresInARow);
      this.#schedule(Math.max(backoff, 100));
      this.#onFailure(batch.length, error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.registerPending().catch(() => undefined);
    }, delayMs);
    // A pending registration must not keep a process alive; close() writes what is left.
    this.#timer.unref();
  }
}
