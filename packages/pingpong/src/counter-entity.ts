import { defineKind, type Key } from '@shardcount/storage';

/**
 * How much of one open epoch's slots has already been moved into the durable count: the
 * watermark that makes a flush idempotent. It is written in the same transaction as the
 * count, so the count and the watermarks always agree.
 */
export interface DrainedSlot {
  /** The epoch. */
  readonly epoch: number;
  /** Value of the increment slot already added to `count`. */
  readonly up: number;
  /** Value of the decrement slot already subtracted from `count`. */
  readonly down: number;
}

/**
 * The durable entity of one ping-pong counter. It is also the registry entry that tells a
 * flusher the counter exists (created on the first increment, off the hot path).
 */
export interface PingPongCounterEntity {
  /** The `namespace` option of the counters that write it. */
  readonly namespace: string;
  /** The counter's name. */
  readonly name: string;
  /** The flushed (durable) count. */
  readonly count: number;
  /** Watermarks of the open epochs that have been drained at least once. */
  readonly drained: readonly DrainedSlot[];
  /**
   * Epochs below this one are closed: drained for good, never read or moved again. A drain
   * decides what to move from this and the watermarks, read in its own transaction, so a
   * watermark dropped at closing can never be mistaken for "nothing drained yet".
   */
  readonly closedBefore: number;
  /**
   * Oldest epoch that may hold counts not yet moved, as far as the registry knows (lowered
   * by a process registering increments in an older open epoch). Flushes read the slots of
   * the epochs from `max(closedBefore, scanFrom)` on: the open ones, not the retention.
   */
  readonly scanFrom: number;
  /**
   * When a process last registered increments of this counter, in milliseconds since the
   * epoch (each process does so at most every quarter of `retentionMs` per counter).
   */
  readonly touchedAt: number;
  /**
   * Whether flushes skip this counter: nothing pending and no registered increment for
   * `retentionMs`. The next registered increment clears it.
   */
  readonly idle: boolean;
  /**
   * Whether the counter was deleted with `delete(name)` and has not been incremented since
   * (its count is 0; the entity stays, with its watermarks, so nothing is counted twice).
   */
  readonly deleted: boolean;
  /**
   * Raised by one on every write. A flush compares it with the copy it read before reading
   * the slots: when nothing was written in between, a slot below its watermark can only
   * mean memcache lost it.
   */
  readonly revision: number;
  /** When the entity was created. */
  readonly createdAt: Date;
  /** When the entity last changed. */
  readonly updatedAt: Date;
}

/**
 * Datastore kind of {@link PingPongCounterEntity}; the key name is `<namespace>:<name>`. Only
 * `namespace` and `idle` (which `flush()` queries) and `name` are indexed: the rest changes on
 * flushes and is never queried, so indexing it would only add index writes, and a hotspot on
 * the newest timestamps when many counters flush at once.
 */
export const PingPongCounterKind = defineKind<PingPongCounterEntity>('ShardcountPingPongCounter', {
  unindexed: [
    'drained',
    'count',
    'closedBefore',
    'scanFrom',
    'touchedAt',
    'deleted',
    'revision',
    'createdAt',
    'updatedAt',
  ],
});

/** The key of a counter's entity. Throws `InvalidArgumentError` for an unusable name. */
export function counterKey(namespace: string, name: string): Key<PingPongCounterEntity> {
  return PingPongCounterKind.key(`${namespace}:${name}`);
}

/**
 * A fresh entity with a zero count: nothing closed yet, and flushes start reading at
 * `firstEpoch` (the oldest epoch its creator knows to hold increments; a registration naming
 * an older one lowers it).
 */
export function newCounterEntity(
  namespace: string,
  name: string,
  firstEpoch: number,
  at: Date,
): PingPongCounterEntity {
  return {
    namespace,
    name,
    count: 0,
    drained: [],
    closedBefore: 0,
    scanFrom: firstEpoch,
    touchedAt: at.getTime(),
    idle: false,
    deleted: false,
    revision: 0,
    createdAt: at,
    updatedAt: at,
  };
}

/**
 * An entity as loaded, with every field present: Datastore may drop an empty array property,
 * and entities written by version 0.1 have no epoch bookkeeping (their open epochs start at
 * their oldest watermark, or at the epoch of their last write).
 */
export function loadedCounterEntity(
  entity: PingPongCounterEntity,
  intervalMs: number,
): PingPongCounterEntity {
  if (
    Array.isArray(entity.drained) &&
    typeof entity.closedBefore === 'number' &&
    typeof entity.revision === 'number'
  ) {
    return entity;
  }
  const drained = Array.isArray(entity.drained) ? entity.drained : [];
  const legacyStart =
    drained.length > 0
      ? Math.min(...drained.map((slot) => slot.epoch))
      : Math.floor(new Date(entity.updatedAt).getTime() / intervalMs);
  const closedBefore = typeof entity.closedBefore === 'number' ? entity.closedBefore : legacyStart;
  return {
    ...entity,
    drained,
    closedBefore,
    scanFrom: typeof entity.scanFrom === 'number' ? entity.scanFrom : closedBefore,
    touchedAt:
      typeof entity.touchedAt === 'number'
        ? entity.touchedAt
        : new Date(entity.updatedAt).getTime(),
    idle: entity.idle === true,
    deleted: entity.deleted === true,
    revision: typeof entity.revision === 'number' ? entity.revision : 0,
  };
}

/** The oldest epoch of a counter that may still be drained. */
export function openStart(entity: PingPongCounterEntity): number {
  return Math.max(entity.closedBefore, entity.scanFrom);
}

/** The entity as saved: `changes` applied, revision raised, `updatedAt` set. */
export function revised(
  entity: PingPongCounterEntity,
  changes: Partial<PingPongCounterEntity>,
  at: Date,
): PingPongCounterEntity {
  return { ...entity, ...changes, revision: entity.revision + 1, updatedAt: at };
}
