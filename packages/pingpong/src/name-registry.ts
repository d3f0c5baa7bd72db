/** Writes registry entries durably for `names`; rejects when any could not be written. */
export type RegisterNames = (names: readonly string[]) => Promise<void>;

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
 * The trade-off: a name noted by a process that dies before the batch is written (within
 * `delayMs`, or while the store is down) is not registered by that process. Its increments
 * wait in memcache until any process increments or flushes the same name again within the
 * slot TTL; after that they expire. `close()` writes pending names before returning.
 */
export class NameRegistry {
  readonly #write: RegisterNames;
  readonly #delayMs: number;
  readonly #maxRemembered: number;
  /** Names known to be registered; insertion order makes it a cheap LRU. */
  readonly #remembered = new Map<string, true>();
  readonly #pending = new Set<string>();
  readonly #inFlight = new Set<string>();
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
   */
  constructor(write: RegisterNames, delayMs: number, maxRemembered: number) {
    this.#write = write;
    this.#delayMs = delayMs;
    this.#maxRemembered = maxRemembered;
  }

  /** Notes that `name` is in use; schedules its registration unless known. Never does I/O. */
  note(name: string): void {
    if (this.#remembered.has(name) || this.#pending.has(name) || this.#inFlight.has(name)) return;
    this.#pending.add(name);
    this.#schedule(this.#delayMs);
  }

  /** Records that `name`'s entity exists (written or seen by someone). */
  remember(name: string): void {
    this.#pending.delete(name);
    this.#remembered.delete(name);
    this.#remembered.set(name, true);
    if (this.#remembered.size > this.#maxRemembered) {
      const oldest = this.#remembered.keys().next();
      if (!oldest.done) this.#remembered.delete(oldest.value);
    }
  }

  /** Names noted but not yet registered (including those being written now). */
  unregistered(): string[] {
    return [...this.#pending, ...this.#inFlight];
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
    const batch = [...this.#pending].slice(0, MAX_BATCH);
    for (const name of batch) {
      this.#pending.delete(name);
      this.#inFlight.add(name);
    }
    try {
      await this.#write(batch);
      this.#failuresInARow = 0;
      this.registered += batch.length;
      for (const name of batch) {
        this.#inFlight.delete(name);
        this.remember(name);
      }
    } catch (error) {
      this.failures++;
      this.#failuresInARow++;
      for (const name of batch) {
        this.#inFlight.delete(name);
        this.#pending.add(name);
      }
      const backoff = Math.min(MAX_RETRY_DELAY_MS, this.#delayMs * 2 ** this.#failuresInARow);
      this.#schedule(Math.max(backoff, 100));
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
