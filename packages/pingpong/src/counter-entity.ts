import { defineKind, type Key, OutOfRangeError } from '@shardcount/storage';

/**
 * How much of one epoch's slots has already been moved into the durable count: the
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
  /** Watermarks of the epochs whose slots may still exist; older ones are pruned. */
  readonly drained: readonly DrainedSlot[];
  /** When the entity was created. */
  readonly createdAt: Date;
  /** When the count or the watermarks last changed. */
  readonly updatedAt: Date;
}

/**
 * Datastore kind of {@link PingPongCounterEntity}; the key name is `<namespace>:<name>`. Only
 * `namespace` (which `flush()` queries) and `name` are indexed: the watermarks (`drained`, an
 * array of embedded entities), the count and the timestamps change on every flush and are
 * never queried, so indexing them would only add index writes, and a hotspot on the newest
 * `updatedAt` values when many counters flush at once.
 */
export const PingPongCounterKind = defineKind<PingPongCounterEntity>('ShardcountPingPongCounter', {
  unindexed: ['drained', 'count', 'createdAt', 'updatedAt'],
});

/** The key of a counter's entity. Throws `InvalidArgumentError` for an unusable name. */
export function counterKey(namespace: string, name: string): Key<PingPongCounterEntity> {
  return PingPongCounterKind.key(`${namespace}:${name}`);
}

/** A fresh entity with a zero count. */
export function newCounterEntity(namespace: string, name: string, at: Date): PingPongCounterEntity {
  return { namespace, name, count: 0, drained: [], createdAt: at, updatedAt: at };
}

/**
 * An entity as loaded, with `drained` always an array: Datastore may drop an empty array
 * property, so a stored `[]` can come back missing.
 */
export function loadedCounterEntity(entity: PingPongCounterEntity): PingPongCounterEntity {
  return Array.isArray(entity.drained) ? entity : { ...entity, drained: [] };
}

/** Values read from one epoch's two slots (0 when a slot is missing). */
export interface SlotValues {
  /** The increment slot. */
  readonly up: number;
  /** The decrement slot. */
  readonly down: number;
}

/** Outcome of {@link drainInto}. */
export interface DrainResult {
  /** The entity to save; the input when nothing changed. */
  readonly entity: PingPongCounterEntity;
  /** Amount added to the count from increment slots. */
  readonly movedUp: number;
  /** Amount subtracted from the count from decrement slots. */
  readonly movedDown: number;
  /** Whether the entity must be saved. */
  readonly changed: boolean;
}

/**
 * Moves what the slots hold beyond their watermarks into the count, raises the watermarks
 * and prunes those older than `firstLiveEpoch`. A slot value at or below its watermark
 * moves nothing: it was drained already, or the slot was evicted and re-created (the
 * increments in it then count towards the documented loss, never twice). Pure, so a
 * transaction retried after contention recomputes it from fresh data.
 */
export function drainInto(
  entity: PingPongCounterEntity,
  observed: ReadonlyMap<number, SlotValues>,
  firstLiveEpoch: number,
  at: Date,
): DrainResult {
  const watermarks = new Map<number, DrainedSlot>();
  for (const slot of entity.drained) watermarks.set(slot.epoch, slot);
  let movedUp = 0;
  let movedDown = 0;
  for (const [epoch, values] of observed) {
    const mark = watermarks.get(epoch) ?? { epoch, up: 0, down: 0 };
    const up = Math.max(mark.up, values.up);
    const down = Math.max(mark.down, values.down);
    if (up === mark.up && down === mark.down) continue;
    movedUp += up - mark.up;
    movedDown += down - mark.down;
    watermarks.set(epoch, { epoch, up, down });
  }
  const kept = [...watermarks.values()]
    .filter((slot) => slot.epoch >= firstLiveEpoch)
    .sort((a, b) => a.epoch - b.epoch);
  const pruned = entity.drained.some((slot) => slot.epoch < firstLiveEpoch);
  if (movedUp === 0 && movedDown === 0 && !pruned) {
    return { entity, movedUp: 0, movedDown: 0, changed: false };
  }
  const count = entity.count + movedUp - movedDown;
  if (!Number.isSafeInteger(count)) {
    throw new OutOfRangeError(
      `Flushing counter "${entity.name}" would take its count past the safe integer range; nothing was moved.`,
      { context: { counterName: entity.name } },
    );
  }
  return {
    entity: { ...entity, count, drained: kept, updatedAt: at },
    movedUp,
    movedDown,
    changed: true,
  };
}
