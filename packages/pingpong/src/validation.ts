import { describeValue, InvalidArgumentError } from '@shardcount/storage';

/** Longest counter name, in UTF-8 bytes. Keeps entity key names well under Datastore's 1500. */
export const MAX_COUNTER_NAME_BYTES = 500;

/** Throws `InvalidArgumentError` unless `name` is a non-blank string of at most 500 bytes. */
export function assertCounterName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.trim().length === 0) {
    throw new InvalidArgumentError(
      `A counter name must be a non-blank string, got ${describeValue(name)}.`,
    );
  }
  // A UTF-16 code unit takes at most 3 UTF-8 bytes: short names need no count (hot path).
  if (name.length * 3 <= MAX_COUNTER_NAME_BYTES) return;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_COUNTER_NAME_BYTES) {
    throw new InvalidArgumentError(
      `Counter name is ${bytes} bytes; at most ${MAX_COUNTER_NAME_BYTES} UTF-8 bytes are allowed.`,
      { context: { bytes } },
    );
  }
}

/** Throws `InvalidArgumentError` unless `delta` is a safe integer (negative allowed). */
export function assertDelta(delta: unknown, counterName: string): asserts delta is number {
  if (typeof delta !== 'number' || !Number.isSafeInteger(delta)) {
    throw new InvalidArgumentError(
      `delta must be a safe integer, got ${describeValue(delta)} (counter "${counterName}").`,
      { context: { counterName } },
    );
  }
}
