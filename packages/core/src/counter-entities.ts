import { createHash } from 'node:crypto';
import { defineKind, type Key, type Kind, MAX_KEY_NAME_BYTES } from '@shardcount/storage';
import type { CounterStatus, SettableCounterStatus } from './counter-status.js';

/** The stored counter: its metadata, never its count (the count lives in the shards). */
export interface CounterData {
  /** The counter's name, as the caller gave it. */
  name: string;
  /** Free text for people. */
  description: string;
  /** Shards that may hold counts: indexes `0 .. numShards - 1`. No shard exists beyond. */
  numShards: number;
  /** Current status. */
  status: CounterStatus;
  /** The status to return to when a transitional status (`CHANGING_SHARDS`, `RESETTING`) ends. */
  baseStatus: SettableCounterStatus;
  /** `CHANGING_SHARDS` only: the shard count being shrunk to. */
  targetNumShards?: number | undefined;
  /** `RESETTING` only: the first shard index not yet zeroed. */
  resetNext?: number | undefined;
  /**
   * Raised by every transaction that moves counts between shards or zeroes them (each shrink
   * step, each reset step); absent means 0. A read of more shards than one lookup holds is
   * split into several lookups, each with the counter: the read is used only when all of them
   * saw the same counter (epoch, shard count, status), so no such change fell between them.
   */
  layoutEpoch?: number | undefined;
  /**
   * The fence every shard must carry for an increment to trust this process's cached view of
   * the counter; absent means 0. Raised by every change that must stop increments made from
   * an older view (a status change, delete, reset, the switch to `largeTotal`), in the same
   * transaction that stamps it on the first batch of shards; the other shards are stamped in
   * ordered transactions before the change returns. An increment reads only its shard: a
   * shard whose fence differs from the view's sends it back to refresh the view.
   */
  fenceEpoch?: number | undefined;
  /**
   * Set while a raised fence is not yet stamped on every shard: the first shard index left to
   * stamp. `resumeInterrupted` (or the same change made again) finishes the stamping.
   */
  fenceNext?: number | undefined;
  /** `true` exactly while `fenceNext` is set (an indexed flag, so such counters can be queried). */
  fencing?: boolean | undefined;
  /**
   * Set once a shard may hold more than {@link SHARD_FAST_PATH_LIMIT}. While false, every shard
   * is at most that, so the total cannot pass `Number.MAX_SAFE_INTEGER` and an increment needs
   * only its own shard to prove it; while true, increments read every shard to check.
   */
  largeTotal: boolean;
  /** When the counter was created. */
  createdAt: Date;
  /** When its metadata last changed (not its count). */
  updatedAt: Date;
}

/** One shard of a counter: a part of its count. */
export interface CounterShardData {
  /** The counter this shard belongs to (shard keys may be hashed, so the name is kept here). */
  counterName: string;
  /** Shard index, from 0. */
  index: number;
  /** This shard's part of the count; never negative. */
  count: number;
  /**
   * The counter's {@link CounterData.fenceEpoch} this shard was last stamped with; absent
   * means 0. An increment from a cached view of the counter proceeds only when it matches.
   */
  fence?: number | undefined;
  /**
   * Count-changing writes to this shard so far (absent means 0). Raised by every write that
   * changes `count`, so a cached total that recorded the value it read can tell whether a
   * given committed write is already in it.
   */
  seq?: number | undefined;
  /** When the shard was first written. */
  createdAt: Date;
  /** When the shard last changed. */
  updatedAt: Date;
}

/** A committed increment or decrement recorded under its idempotency key. */
export interface OperationRecord {
  /** Counter the operation applied to. */
  counterName: string;
  /** The caller's idempotency key. */
  idempotencyKey: string;
  /** The operation's id (uuid). */
  operationId: string;
  /** `INCREMENT` or `DECREMENT`. */
  type: 'INCREMENT' | 'DECREMENT';
  /** Decrement mode, for decrements. */
  mode?: 'upTo' | 'exact' | undefined;
  /** Amount asked for. */
  requestedAmount: number;
  /** Amount really applied. */
  appliedAmount: number;
  /** Shard the operation touched first. */
  shardIndex: number;
  /** Whether the operation created the counter. */
  counterCreated: boolean;
  /** When it was committed. */
  createdAt: Date;
  /**
   * When the record may be removed; set a Datastore TTL policy on this property of the
   * operation kind to have records cleaned up (deleting the counter removes them too).
   */
  expiresAt: Date;
}

/**
 * Most shards a counter may have. A counter with more than 999 shards is read in two lookups
 * (Datastore allows 1000 keys per lookup), checked against each other; every batched operation
 * (shrink, reset, delete) stays within 500 writes per transaction, and
 * {@link SHARD_FAST_PATH_LIMIT} stays large (about 9 × 10^12).
 */
export const MAX_SHARDS = 1000;

/**
 * Largest count a shard may reach on the increment fast path:
 * `floor(Number.MAX_SAFE_INTEGER / MAX_SHARDS)`. While every shard stays at or below it, no
 * total can pass `Number.MAX_SAFE_INTEGER`, whatever the other shards hold.
 */
export const SHARD_FAST_PATH_LIMIT = Math.floor(Number.MAX_SAFE_INTEGER / MAX_SHARDS);

/** The three kinds the service stores. */
export interface CounterKinds {
  /** Counter metadata, one entity per counter. */
  readonly counter: Kind<CounterData>;
  /** Shards, `numShards` entities per counter. */
  readonly shard: Kind<CounterShardData>;
  /** Operation records of idempotent operations. */
  readonly operation: Kind<OperationRecord>;
}

/**
 * Shard properties stored without a Datastore index. Shards take the highest write rate, and
 * every write changes `count` and `updatedAt`: indexed, each would cost index writes per
 * commit, and the timestamps would concentrate the writes of every counter on the newest end
 * of one index (a hotspot). Nothing queries them. `counterName` stays indexed, so the shards of
 * one counter can still be listed by a query (operators, tests).
 */
export const UNINDEXED_SHARD_PROPERTIES = Object.freeze([
  'index',
  'count',
  'fence',
  'seq',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof CounterShardData)[]);

/**
 * Operation-record properties stored without a Datastore index: all but `counterName`, which
 * `delete` queries to remove a counter's records. `createdAt` and `expiresAt` are increasing
 * timestamps (a hotspot when indexed); a Datastore TTL policy works on an unindexed property.
 */
export const UNINDEXED_OPERATION_PROPERTIES = Object.freeze([
  'idempotencyKey',
  'operationId',
  'type',
  'mode',
  'requestedAmount',
  'appliedAmount',
  'shardIndex',
  'counterCreated',
  'createdAt',
  'expiresAt',
] as const satisfies readonly (keyof OperationRecord)[]);

/**
 * Declares the kinds, named `${prefix}Counter`, `${prefix}Shard`, `${prefix}Operation`. Counter
 * entities are indexed in full (`status` is queried); shards and operation records leave out
 * of the indexes what is never queried ({@link UNINDEXED_SHARD_PROPERTIES},
 * {@link UNINDEXED_OPERATION_PROPERTIES}).
 */
export function counterKinds(prefix: string): CounterKinds {
  return {
    counter: defineKind<CounterData>(`${prefix}Counter`),
    shard: defineKind<CounterShardData>(`${prefix}Shard`, {
      unindexed: UNINDEXED_SHARD_PROPERTIES,
    }),
    operation: defineKind<OperationRecord>(`${prefix}Operation`, {
      unindexed: UNINDEXED_OPERATION_PROPERTIES,
    }),
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64url');
}

/**
 * A key name for `name` plus `suffix` that always fits Datastore's 1500-byte limit and never
 * matches its reserved `__*__` pattern: `n:` + name + suffix when that fits, otherwise `h:` +
 * SHA-256(name) + suffix. The prefixes keep the two forms apart, and the suffix (`#index`)
 * never contains the separator twice, so distinct (name, suffix) pairs get distinct keys.
 */
function fittedKeyName(name: string, suffix: string): string {
  const plain = `n:${name}${suffix}`;
  if (Buffer.byteLength(plain, 'utf8') <= MAX_KEY_NAME_BYTES) return plain;
  return `h:${sha256(name)}${suffix}`;
}

/**
 * The key-name prefix shared by every counter whose name starts with `prefix` and whose key
 * holds its name (`n:` + name); `undefined` when no such key can exist (`n:` + `prefix` is
 * past the key-name limit). Counters under hashed keys (names of more than 1,498 bytes) do
 * not share it.
 */
export function counterKeyNamePrefix(prefix: string): string | undefined {
  const plain = `n:${prefix}`;
  return Buffer.byteLength(plain, 'utf8') <= MAX_KEY_NAME_BYTES ? plain : undefined;
}

/** Key of the counter called `name`. */
export function counterKey(kinds: CounterKinds, name: string): Key<CounterData> {
  return kinds.counter.key(fittedKeyName(name, ''));
}

/** Key of shard `index` of the counter called `name`. */
export function shardKey(kinds: CounterKinds, name: string, index: number): Key<CounterShardData> {
  return kinds.shard.key(fittedKeyName(name, `#${index}`));
}

/** Keys of shards `from .. to - 1`. */
export function shardKeys(
  kinds: CounterKinds,
  name: string,
  from: number,
  to: number,
): Array<Key<CounterShardData>> {
  const keys: Array<Key<CounterShardData>> = [];
  for (let i = from; i < to; i++) keys.push(shardKey(kinds, name, i));
  return keys;
}

/** Key of the operation record for `idempotencyKey` on the counter `name` (always hashed). */
export function operationKey(
  kinds: CounterKinds,
  name: string,
  idempotencyKey: string,
): Key<OperationRecord> {
  // Length-prefixing the name makes the pair unambiguous before hashing.
  return kinds.operation.key(
    `h:${sha256(`${Buffer.byteLength(name, 'utf8')}:${name}${idempotencyKey}`)}`,
  );
}

/** Shards an increment may write: the kept ones while shrinking, otherwise all. */
export function writableShards(counter: CounterData): number {
  return counter.status === 'CHANGING_SHARDS' && counter.targetNumShards !== undefined
    ? counter.targetNumShards
    : counter.numShards;
}
