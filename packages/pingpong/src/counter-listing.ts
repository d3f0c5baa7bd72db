import {
  assertInteger,
  assertString,
  type CallOptions,
  InvalidArgumentError,
  invalidArgument,
} from '@shardcount/storage';
import type { PingPongCounterEntity } from './counter-entity.js';
import { MAX_COUNTER_NAME_BYTES } from './validation.js';

/** Default {@link ListCountersOptions.limit}. */
export const DEFAULT_LIST_LIMIT = 100;

/** Largest {@link ListCountersOptions.limit}. */
export const MAX_LIST_LIMIT = 1_000;

/** Options of {@link PingPongCounter.listCounters}. */
export interface ListCountersOptions extends CallOptions {
  /** Only counters whose name starts with this string; `''` (the default) lists every one. */
  readonly prefix?: string;
  /** Most counters on one page: a whole number from 1 to 1000. Default 100. */
  readonly limit?: number;
  /** Where to go on: the `cursor` of the previous page. Absent for the first page. */
  readonly cursor?: string;
}

/**
 * One counter as the registry knows it: what its entity holds, read without any memcache
 * call (so `durable` leaves out what is still pending; `get` or `getMany` read that).
 */
export interface CounterListEntry {
  /** The counter's name. */
  readonly name: string;
  /** The flushed (durable) count. */
  readonly durable: number;
  /** Whether flushes skip it: nothing pending and no registered increment for `retentionMs`. */
  readonly idle: boolean;
  /** Whether it was deleted and not incremented since (it reads 0). */
  readonly deleted: boolean;
  /** When its entity was created (its first registration or flush). */
  readonly createdAt: Date;
  /** When its entity last changed (a flush, a registration, a reset). */
  readonly updatedAt: Date;
}

/** One page of {@link PingPongCounter.listCounters}. */
export interface CounterPage {
  /** The counters of this page, ordered by name (in the store's key order). */
  readonly counters: readonly CounterListEntry[];
  /** Pass it as `cursor` to get the next page; `undefined` on the last page. */
  readonly cursor: string | undefined;
}

/** The listing options as checked: prefix, limit and the name to start after. */
export interface ListingQuery {
  readonly prefix: string;
  readonly limit: number;
  readonly after: string | undefined;
}

/** Version tag of the cursor format, so a future format can refuse old cursors clearly. */
const CURSOR_VERSION = 1;

/**
 * Checks the listing fields of {@link ListCountersOptions} (already read by `readOptions`).
 * Every refusal is an `InvalidArgumentError` naming the field.
 */
export function readListingQuery(fields: {
  readonly prefix?: unknown;
  readonly limit?: unknown;
  readonly cursor?: unknown;
}): ListingQuery {
  const prefix = fields.prefix ?? '';
  assertString(prefix, 'options.prefix', { allowEmpty: true });
  if (Buffer.byteLength(prefix, 'utf8') > MAX_COUNTER_NAME_BYTES) {
    throw invalidArgument(
      'options.prefix',
      `at most ${MAX_COUNTER_NAME_BYTES} UTF-8 bytes (a counter name's limit)`,
      prefix,
    );
  }
  const limit = fields.limit ?? DEFAULT_LIST_LIMIT;
  assertInteger(limit, 'options.limit', { min: 1, max: MAX_LIST_LIMIT });
  const after = fields.cursor === undefined ? undefined : decodeCursor(fields.cursor);
  return { prefix, limit, after };
}

/** The opaque cursor that resumes a listing after the counter `name`. */
export function encodeCursor(name: string): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, name]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: unknown): string {
  assertString(cursor, 'options.cursor');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 2 ||
    decoded[0] !== CURSOR_VERSION ||
    typeof decoded[1] !== 'string' ||
    decoded[1].length === 0 ||
    encodeCursor(decoded[1]) !== cursor
  ) {
    throw new InvalidArgumentError(
      'options.cursor is not a cursor returned by listCounters (pass the `cursor` of the previous page unchanged).',
      { context: { argument: 'options.cursor' } },
    );
  }
  return decoded[1];
}

/** The list entry of a loaded entity. */
export function listEntryOf(entity: PingPongCounterEntity): CounterListEntry {
  return {
    name: entity.name,
    durable: entity.count,
    idle: entity.idle,
    deleted: entity.deleted,
    createdAt: new Date(entity.createdAt),
    updatedAt: new Date(entity.updatedAt),
  };
}
