import { setTimeout as sleep } from 'node:timers/promises';
import { BackendEntityStore, type EntityStoreOptions } from '../entity/backend-entity-store.js';
import { checkLimits } from '../entity/entity-arguments.js';
import type {
  BackendQuery,
  BackendTransaction,
  EntityBackend,
  EntityBackendLimits,
  Mutation,
  QueryRow,
  StoredEntity,
} from '../entity/entity-backend.js';
import type { Key } from '../entity/key.js';
import {
  AmbiguousCommitError,
  ContentionError,
  LimitExceededError,
  StoreUnavailableError,
} from '../errors/index.js';
import { readOptions } from '../validation/options.js';
import { FaultPlan } from './fault-plan.js';

/** The backend calls a {@link FaultInjectingEntityStore} can count and break. */
export type EntityOperation = 'beginTransaction' | 'lookup' | 'commit' | 'rollback' | 'query';

/** Which operations a fault applies to; all when absent. */
export interface EntityFaultScope {
  /** Operations the fault hits. */
  readonly operations?: readonly EntityOperation[];
}

/** Options of {@link EntityFaults.failNext} and {@link EntityFaults.failAlways}. */
export interface EntityFailOptions extends EntityFaultScope {
  /** Error to throw; a `StoreUnavailableError` (nothing written) by default. */
  readonly error?: () => Error;
}

type EntityEffect =
  | { readonly kind: 'fail'; readonly error: (op: EntityOperation) => Error }
  | { readonly kind: 'ambiguous'; readonly applied: boolean };

/**
 * One backend call held at a gate by {@link EntityFaults.holdNext}: it waits there, before
 * reaching the wrapped store, until released; e.g. a commit held while a test aborts the
 * transaction's signal.
 */
export interface HeldEntityCall {
  /** Resolves when the call has arrived at the gate (and is waiting there). */
  readonly reached: Promise<void>;
  /**
   * Resolves once the held call, released, has finished in the wrapped store (whatever its
   * outcome), so a test can read what it did.
   */
  readonly settled: Promise<void>;
  /** Lets the call go on to the wrapped store (and the faults armed for it). */
  release(): void;
}

/** The faults to arm on a {@link FaultInjectingEntityStore}. */
export interface EntityFaults {
  /** The next `count` matching calls fail before reaching the store. */
  failNext(count: number, options?: EntityFailOptions): void;
  /** Every matching call fails until {@link EntityFaults.heal}. */
  failAlways(options?: EntityFailOptions): void;
  /** The next `count` commits fail with `ContentionError`; nothing is written. */
  contendNext(count: number): void;
  /**
   * The next `count` commits end in `AmbiguousCommitError`: after the commit was applied
   * (`applied: true`, a lost reply) or without applying it (`applied: false`).
   */
  ambiguousNextCommit(count: number, options: { readonly applied: boolean }): void;
  /** Every matching call waits `ms` milliseconds before it runs, until healed. */
  delay(ms: number, options?: EntityFaultScope): void;
  /**
   * Holds the next matching call at a gate until {@link HeldEntityCall.release} (or
   * {@link EntityFaults.heal}, which releases it). Its caller sees nothing but a slow call:
   * `holdNext({ operations: ['commit'] })` keeps a commit in flight for as long as a test
   * needs.
   */
  holdNext(options?: EntityFaultScope): HeldEntityCall;
  /** Disarms every fault. */
  heal(): void;
}

/** Backend calls that reached the wrapped store, per operation. */
export type EntityCallCounts = Record<EntityOperation, number>;

/** Options of {@link FaultInjectingEntityStore}. */
export interface FaultInjectingEntityStoreOptions extends EntityStoreOptions {
  /**
   * Per-call limits to enforce with `LimitExceededError` before calling the wrapped
   * backend, e.g. Datastore's production limits on the emulator, which does not enforce
   * them. Defaults to the wrapped backend's own limits.
   */
  readonly limits?: Partial<EntityBackendLimits>;
}

const zeroCounts = (): EntityCallCounts => ({
  beginTransaction: 0,
  lookup: 0,
  commit: 0,
  rollback: 0,
  query: 0,
});

/**
 * An `EntityStore` over another store's backend that counts backend calls and fails,
 * delays or garbles them on command. It shares the wrapped store's data but runs its own
 * transactions. Used by every package's failure and cost tests.
 *
 * @example
 * ```ts
 * const store = new FaultInjectingEntityStore(new MemoryEntityStore());
 * store.faults.ambiguousNextCommit(1, { applied: true });
 * await expect(service.increment('c')).rejects.toThrow(AmbiguousCommitError);
 * ```
 */
export class FaultInjectingEntityStore extends BackendEntityStore {
  /** Arms faults. */
  readonly faults: EntityFaults;
  readonly #counts: { value: EntityCallCounts };

  /**
   * Wraps a store's backend; no fault is armed at first.
   *
   * @param inner - the store whose backend (and data) to use
   * @param options - limits to enforce, retry policy and hooks
   */
  constructor(inner: BackendEntityStore, options: FaultInjectingEntityStoreOptions = {}) {
    const plan = new FaultPlan<EntityOperation, EntityEffect>();
    const delays = new FaultPlan<EntityOperation, number>();
    const holds = new FaultPlan<EntityOperation, Gate>();
    const open = new Set<Gate>();
    const counts = { value: zeroCounts() };
    const { limits, retry, onRetry } = readOptions(options, 'options', [
      'limits',
      'retry',
      'onRetry',
    ]);
    super(
      new FaultInjectingBackend(
        inner.backend,
        { plan, delays, holds, counts },
        limits === undefined ? undefined : checkLimits(limits, 'options.limits'),
      ),
      { retry, onRetry } as EntityStoreOptions,
    );
    this.#counts = counts;
    const fail = (options?: EntityFailOptions): EntityEffect => {
      const make = options?.error;
      return {
        kind: 'fail',
        error: (op) =>
          make ? make() : new StoreUnavailableError(`Injected failure of ${op} (fault injection).`),
      };
    };
    this.faults = {
      failNext: (count, options) => plan.arm(count, fail(options), options?.operations),
      failAlways: (options) =>
        plan.arm(Number.POSITIVE_INFINITY, fail(options), options?.operations),
      contendNext: (count) =>
        plan.arm(
          count,
          {
            kind: 'fail',
            error: () => new ContentionError('Injected contention on commit (fault injection).'),
          },
          ['commit'],
        ),
      ambiguousNextCommit: (count, { applied }) =>
        plan.arm(count, { kind: 'ambiguous', applied }, ['commit']),
      delay: (ms, options) => delays.arm(Number.POSITIVE_INFINITY, ms, options?.operations),
      holdNext: (options) => {
        const gate = new Gate();
        open.add(gate);
        holds.arm(1, gate, options?.operations);
        return gate;
      },
      heal: () => {
        plan.clear();
        delays.clear();
        holds.clear();
        for (const gate of open) gate.release();
        open.clear();
      },
    };
  }

  /** Backend calls that reached the wrapped store since creation or {@link resetCalls}. */
  get calls(): Readonly<EntityCallCounts> {
    return { ...this.#counts.value };
  }

  /** Sets every call count back to zero. */
  resetCalls(): void {
    this.#counts.value = zeroCounts();
  }
}

/** The gate of one held call: see {@link HeldEntityCall}. */
class Gate implements HeldEntityCall {
  readonly reached: Promise<void>;
  readonly settled: Promise<void>;
  readonly #opened: Promise<void>;
  #arrive!: () => void;
  #open!: () => void;
  #settle!: () => void;

  constructor() {
    this.reached = new Promise((resolve) => {
      this.#arrive = resolve;
    });
    this.#opened = new Promise((resolve) => {
      this.#open = resolve;
    });
    this.settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  release(): void {
    this.#open();
  }

  /** Waits at the gate, then runs `call`; `settled` resolves when it has finished. */
  async pass<R>(call: () => Promise<R>): Promise<R> {
    this.#arrive();
    await this.#opened;
    try {
      return await call();
    } finally {
      this.#settle();
    }
  }
}

interface BackendFaults {
  readonly plan: FaultPlan<EntityOperation, EntityEffect>;
  readonly delays: FaultPlan<EntityOperation, number>;
  readonly holds: FaultPlan<EntityOperation, Gate>;
  readonly counts: { value: EntityCallCounts };
}

class FaultInjectingBackend implements EntityBackend {
  readonly description: string;
  readonly limits: EntityBackendLimits;
  readonly #inner: EntityBackend;
  readonly #faults: BackendFaults;

  constructor(
    inner: EntityBackend,
    faults: BackendFaults,
    limits: Partial<EntityBackendLimits> | undefined,
  ) {
    this.#inner = inner;
    this.#faults = faults;
    this.description = `faulty(${inner.description})`;
    this.limits = { ...inner.limits, ...limits };
  }

  beginTransaction(): Promise<BackendTransaction> {
    return this.#run('beginTransaction', () => this.#inner.beginTransaction());
  }

  lookup(keys: readonly Key[], tx?: BackendTransaction): Promise<Array<StoredEntity | undefined>> {
    if (keys.length > this.limits.maxLookupKeys) {
      return Promise.reject(
        new LimitExceededError(
          `A lookup may ask for at most ${this.limits.maxLookupKeys} keys; got ${keys.length}.`,
        ),
      );
    }
    return this.#run('lookup', () => this.#inner.lookup(keys, tx));
  }

  commit(mutations: readonly Mutation[], tx?: BackendTransaction): Promise<void> {
    if (mutations.length > this.limits.maxMutationsPerCommit) {
      return Promise.reject(
        new LimitExceededError(
          `A commit may carry at most ${this.limits.maxMutationsPerCommit} mutations; got ${mutations.length}.`,
        ),
      );
    }
    // A commit stopped by a fault releases the inner transaction, as a failed commit does.
    const release = tx ? () => this.#inner.rollback(tx) : undefined;
    return this.#run('commit', () => this.#inner.commit(mutations, tx), release);
  }

  rollback(tx: BackendTransaction): Promise<void> {
    return this.#run('rollback', () => this.#inner.rollback(tx));
  }

  query(query: BackendQuery): Promise<QueryRow[]> {
    return this.#run('query', () => this.#inner.query(query));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async #run<R>(
    op: EntityOperation,
    call: () => Promise<R>,
    release?: () => Promise<void>,
  ): Promise<R> {
    const gate = this.#faults.holds.take(op);
    if (gate !== undefined) return gate.pass(() => this.#faulty(op, call, release));
    return this.#faulty(op, call, release);
  }

  async #faulty<R>(
    op: EntityOperation,
    call: () => Promise<R>,
    release?: () => Promise<void>,
  ): Promise<R> {
    const delayMs = this.#faults.delays.take(op);
    if (delayMs !== undefined) await sleep(delayMs);
    const effect = this.#faults.plan.take(op);
    if (effect?.kind === 'fail') {
      await release?.().catch(() => undefined);
      throw effect.error(op);
    }
    this.#faults.counts.value[op] += 1;
    if (effect?.kind === 'ambiguous') {
      if (effect.applied) await call();
      else await release?.().catch(() => undefined);
      throw new AmbiguousCommitError(
        `Injected ambiguous commit (fault injection; the commit was ${effect.applied ? '' : 'not '}applied).`,
      );
    }
    return call();
  }
}
