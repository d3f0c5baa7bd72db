import {
  assertInteger,
  assertOneOf,
  assertString,
  type CallOptions,
  InvalidArgumentError,
  invalidArgument,
  MAX_KEY_NAME_BYTES,
  type PropertyFilter,
} from '@shardcount/storage';
import { counterKeyNamePrefix } from './counter-entities.js';
import { CounterStatus } from './counter-status.js';
import type { CounterInfo, CounterPage } from './counter-types.js';
import { readCallOptions } from './method-options.js';
import type { ServiceContext } from './service-context.js';

/** Counters per `listCounters` page unless `limit` says otherwise. */
export const DEFAULT_LIST_LIMIT = 100;

/** Most counters one `listCounters` page may hold. */
export const MAX_LIST_LIMIT = 1000;

/** Longest `prefix`, in UTF-8 bytes (a counter name's limit). */
const MAX_PREFIX_BYTES = MAX_KEY_NAME_BYTES;

/**
 * The query `listCounters` makes: `QueryOptions` with the key-range fields of
 * `EntityStore.query` (`keyPrefix`: key names starting with it; `startAfter`: key names
 * strictly after it; results ordered by key name).
 */
interface ListQuery {
  limit: number;
  filters?: PropertyFilter[];
  keyPrefix?: string;
  startAfter?: string;
}

/** The checked options of one `listCounters` call. */
interface ListRequest {
  readonly prefix: string | undefined;
  readonly status: CounterStatus | undefined;
  readonly limit: number;
  readonly after: string | undefined;
  /** The call's signal and deadline. */
  readonly call: CallOptions;
}

const STATUSES = Object.values(CounterStatus);

/** Reads and checks `listCounters`' options; the cursor is decoded back into a key name. */
export function readListOptions(options: unknown): ListRequest {
  const {
    prefix,
    status,
    cursor,
    limit: given,
    call,
  } = readCallOptions(options, ['prefix', 'status', 'limit', 'cursor']);
  if (prefix !== undefined) {
    assertString(prefix, 'options.prefix', { allowEmpty: true });
    const bytes = Buffer.byteLength(prefix, 'utf8');
    if (bytes > MAX_PREFIX_BYTES) {
      throw new InvalidArgumentError(
        `options.prefix is ${bytes} UTF-8 bytes; a counter name has at most ${MAX_PREFIX_BYTES}.`,
        { context: { argument: 'options.prefix', bytes } },
      );
    }
  }
  if (status !== undefined) assertOneOf(status, 'options.status', STATUSES);
  const limit = given === undefined ? DEFAULT_LIST_LIMIT : given;
  assertInteger(limit, 'options.limit', { min: 1, max: MAX_LIST_LIMIT });
  return {
    prefix,
    status,
    limit,
    after: cursor === undefined ? undefined : decodeCursor(cursor),
    call,
  };
}

/**
 * One page of counter metadata, ordered by key name (for names of up to 1,498 bytes, the
 * name's UTF-8 byte order), from ONE query of the counter kind (`limit + 1` rows, to tell
 * whether another page follows). Reads no shard.
 */
export async function listCounters(
  ctx: ServiceContext,
  request: ListRequest,
): Promise<CounterPage> {
  const options: ListQuery = { limit: request.limit + 1 };
  if (request.prefix !== undefined && request.prefix !== '') {
    const keyPrefix = counterKeyNamePrefix(request.prefix);
    // No counter key can start with it.
    if (keyPrefix === undefined) return { counters: [], cursor: undefined };
    options.keyPrefix = keyPrefix;
  }
  if (request.status !== undefined)
    options.filters = [{ property: 'status', value: request.status }];
  if (request.after !== undefined) options.startAfter = request.after;
  const rows = await ctx.store.query(ctx.kinds.counter, options);
  const page = rows.slice(0, request.limit);
  const last = page[page.length - 1];
  const counters = page.map(
    ({ entity }): CounterInfo => ({
      name: entity.name,
      description: entity.description,
      numShards: entity.numShards,
      status: entity.status,
      createdAt: entity.createdAt,
      updatedAt: entity.updatedAt,
    }),
  );
  return {
    counters,
    cursor:
      rows.length > request.limit && last !== undefined ? encodeCursor(last.key.name) : undefined,
  };
}

/** The opaque cursor of a page ending at key name `keyName`: `1.` + its base64url form. */
function encodeCursor(keyName: string): string {
  return `1.${Buffer.from(keyName, 'utf8').toString('base64url')}`;
}

/** The key name a cursor from {@link encodeCursor} stands for; refuses anything else. */
function decodeCursor(cursor: unknown): string {
  const refuse = (): never => {
    throw invalidArgument(
      'options.cursor',
      'a cursor returned by an earlier listCounters call',
      cursor,
    );
  };
  if (typeof cursor !== 'string' || !cursor.startsWith('1.') || cursor.length > 2100) refuse();
  const encoded = (cursor as string).slice(2);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) refuse();
  const keyName = Buffer.from(encoded, 'base64url').toString('utf8');
  // Canonical form only (no padding variants, no bytes that are not UTF-8), and a counter key.
  if (encodeCursor(keyName) !== cursor) refuse();
  if (!(keyName.startsWith('n:') || keyName.startsWith('h:'))) refuse();
  if (Buffer.byteLength(keyName, 'utf8') > MAX_KEY_NAME_BYTES) refuse();
  return keyName;
}
