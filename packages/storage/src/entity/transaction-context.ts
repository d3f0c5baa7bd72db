import { AsyncLocalStorage } from 'node:async_hooks';
import type { BackendTransaction, Mutation } from './entity-backend.js';

/** State of one transaction attempt, shared by everything `work` runs (awaits, branches). */
export interface TransactionContext {
  /** The store that opened it: a transaction never spans two stores. */
  readonly owner: object;
  readonly transaction: BackendTransaction;
  /** Buffered writes by key id; applied at commit, visible to this transaction's reads. */
  readonly writes: Map<string, Mutation>;
  readonly attempt: number;
  /** The transaction's `signal`: store calls made by `work` run under it. */
  readonly signal: AbortSignal | undefined;
  /** Run after a successful commit of this attempt, in order. */
  readonly afterCommit: Array<() => void | Promise<void>>;
  /** Set once commit or rollback has begun: later use of the context is a bug. */
  closed: boolean;
}

/**
 * The ambient transaction, as Objectify's `ofy()` keeps it per thread. `undefined` means
 * "outside any transaction" (used by `transactionless`).
 */
export const ambientTransaction: AsyncLocalStorage<TransactionContext | undefined> =
  new AsyncLocalStorage<TransactionContext | undefined>();
