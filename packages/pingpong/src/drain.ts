import { OutOfRangeError } from '@shardcount/storage';
import {
  type DrainedSlot,
  openStart,
  type PingPongCounterEntity,
  revised,
} from './counter-entity.js';
import type { EpochRange } from './epoch-schedule.js';

/** Values read from one epoch's two slots (0 for a missing slot). */
export interface SlotValues {
  /** The increment slot. */
  readonly up: number;
  /** The decrement slot. */
  readonly down: number;
}

/** What one flush read for one counter, and when. */
export interface DrainInput {
  /** Epochs whose slots were read (all of them, found or not). */
  readonly read: EpochRange;
  /** The slots found, per epoch; an epoch absent here had both slots missing. */
  readonly observed: ReadonlyMap<number, SlotValues>;
  /** Newest epoch that may be closed (from the clock reading taken before the slot read). */
  readonly lastClosable: number;
  /**
   * `revision` of the entity as read before the slots, if there was one. When the entity in
   * the transaction still has it, no watermark changed after the slots were read.
   */
  readonly snapshotRevision: number | undefined;
  /** The flush's clock reading, in milliseconds. */
  readonly nowMs: number;
  /** The `retentionMs` option: how long without registered increments makes a counter idle. */
  readonly retentionMs: number;
}

/** Outcome of {@link drainInto}. */
export interface DrainResult {
  /** The entity to save; the input when nothing changed. */
  readonly entity: PingPongCounterEntity;
  /** Amount added to the count from increment slots. */
  readonly movedUp: number;
  /** Amount subtracted from the count from decrement slots. */
  readonly movedDown: number;
  /** Open epochs whose drained slots memcache lost (evicted, restarted), oldest first. */
  readonly lostEpochs: readonly number[];
  /** Epochs this drain closed (`closedBefore` rose by this much). */
  readonly closedEpochs: number;
  /** Whether this drain marked the counter idle. */
  readonly becameIdle: boolean;
  /** Whether the entity must be saved. */
  readonly changed: boolean;
}

/**
 * Moves what the open epochs' slots hold beyond their watermarks into the count, raises the
 * watermarks, and closes the epochs that may be closed. Pure, so a transaction retried after
 * contention recomputes it from fresh data; everything it decides comes from `entity` as read
 * in that transaction, never from what the flush saw earlier:
 *
 * - an epoch below `closedBefore` is closed: its slots move nothing, whatever they hold;
 * - an open epoch moves `max(0, slot − watermark)` per direction (a slot read before another
 *   flush raised the watermark moves nothing);
 * - a slot below its watermark (or gone) means memcache lost it, but only when no write
 *   happened between the flush's snapshot and this transaction (otherwise the slot value may
 *   simply predate the watermark): the epoch is reported lost and its watermark restarts
 *   from 0, so the re-created slot's increments (never counted) are moved;
 * - epochs up to `lastClosable` are closed when this flush read every open epoch from the
 *   first (a registration may have reopened older ones meanwhile);
 * - a counter with nothing left open and no registered increment for `retentionMs` becomes
 *   idle.
 */
export function drainInto(entity: PingPongCounterEntity, input: DrainInput, at: Date): DrainResult {
  const { read, observed } = input;
  const fresh = input.snapshotRevision !== undefined && input.snapshotRevision === entity.revision;
  const marks = new Map<number, DrainedSlot>();
  for (const slot of entity.drained) marks.set(slot.epoch, slot);
  let movedUp = 0;
  let movedDown = 0;
  const lostEpochs: number[] = [];
  for (let epoch = Math.max(read.first, entity.closedBefore); epoch <= read.last; epoch++) {
    const values = observed.get(epoch) ?? { up: 0, down: 0 };
    let mark = marks.get(epoch) ?? { epoch, up: 0, down: 0 };
    const lostUp = values.up < mark.up;
    const lostDown = values.down < mark.down;
    if (fresh && (lostUp || lostDown)) {
      lostEpochs.push(epoch);
      mark = { epoch, up: lostUp ? 0 : mark.up, down: lostDown ? 0 : mark.down };
    }
    const up = Math.max(mark.up, values.up);
    const down = Math.max(mark.down, values.down);
    movedUp += up - mark.up;
    movedDown += down - mark.down;
    if (up > 0 || down > 0) marks.set(epoch, { epoch, up, down });
    else marks.delete(epoch);
  }
  const readAllOpen = read.first <= openStart(entity);
  const closedBefore = readAllOpen
    ? Math.max(entity.closedBefore, Math.min(input.lastClosable, read.last) + 1)
    : entity.closedBefore;
  const drained = [...marks.values()]
    .filter((slot) => slot.epoch >= closedBefore)
    .sort((a, b) => a.epoch - b.epoch);
  const moved = movedUp > 0 || movedDown > 0;
  const quiet = !moved && drained.length === 0;
  // Idle only after reading every open epoch up to the newest drainable one (a backlog read
  // in parts must be read to the end first).
  const readToEnd = readAllOpen && read.last > input.lastClosable;
  const idle = quiet
    ? entity.idle || (readToEnd && entity.touchedAt + input.retentionMs <= input.nowMs)
    : false;
  const closedEpochs = closedBefore - entity.closedBefore;
  const marksChanged =
    drained.length !== entity.drained.length ||
    drained.some((slot, i) => {
      const before = entity.drained[i];
      return before?.epoch !== slot.epoch || before.up !== slot.up || before.down !== slot.down;
    });
  const changed = marksChanged || closedEpochs > 0 || idle !== entity.idle;
  const unchanged = {
    entity,
    movedUp: 0,
    movedDown: 0,
    lostEpochs: [],
    closedEpochs: 0,
    becameIdle: false,
    changed: false,
  };
  if (!changed && !moved) return unchanged;
  const count = entity.count + movedUp - movedDown;
  if (!Number.isSafeInteger(count)) {
    throw new OutOfRangeError(
      `Flushing counter "${entity.name}" would take its count past the safe integer range; nothing was moved.`,
      { context: { counterName: entity.name } },
    );
  }
  return {
    entity: revised(
      entity,
      {
        count,
        drained,
        closedBefore,
        scanFrom: idle ? closedBefore : Math.max(entity.scanFrom, closedBefore),
        idle,
        deleted: entity.deleted && !moved,
      },
      at,
    ),
    movedUp,
    movedDown,
    lostEpochs,
    closedEpochs,
    becameIdle: idle && !entity.idle,
    changed: true,
  };
}

/**
 * The entity after `reset` or `delete`: count 0, and every open epoch's watermark raised to
 * what its slots held when read, so increments that reached memcache before that read are
 * discarded and later ones count from zero. Watermarks only rise, so a flush racing it never
 * moves anything twice.
 */
export function resetInto(
  entity: PingPongCounterEntity,
  read: EpochRange,
  observed: ReadonlyMap<number, SlotValues>,
  deleted: boolean,
  at: Date,
): PingPongCounterEntity {
  const marks = new Map<number, DrainedSlot>();
  for (const slot of entity.drained) marks.set(slot.epoch, slot);
  for (let epoch = Math.max(read.first, entity.closedBefore); epoch <= read.last; epoch++) {
    const values = observed.get(epoch);
    if (values === undefined) continue;
    const mark = marks.get(epoch) ?? { epoch, up: 0, down: 0 };
    marks.set(epoch, {
      epoch,
      up: Math.max(mark.up, values.up),
      down: Math.max(mark.down, values.down),
    });
  }
  return revised(
    entity,
    {
      count: 0,
      drained: [...marks.values()].sort((a, b) => a.epoch - b.epoch),
      deleted,
    },
    at,
  );
}
