import { InvalidArgumentError } from '../errors/index.js';
import { describeValue } from '../validation/describe-value.js';

/**
 * A value an entity property can hold. Integers must be safe integers (they are stored as
 * Datastore 64-bit integers and read back exactly); other numbers are stored as doubles.
 * Arrays cannot directly contain arrays (a Datastore rule).
 */
export type EntityValue =
  | string
  | number
  | boolean
  | null
  | Date
  | readonly EntityValue[]
  | { readonly [property: string]: EntityValue | undefined };

/** Deepest nesting of embedded entities and arrays an entity may have. */
const MAX_ENTITY_DEPTH = 100;

/**
 * Checks that `entity` can be stored and returns a deep copy holding only storable values;
 * properties whose value is `undefined` are left out, as JSON does. Throws
 * {@link InvalidArgumentError} naming the offending property path (also for cycles, nesting
 * deeper than 100 levels and getters that throw).
 *
 * @param kind - the entity's kind, for messages
 * @param entity - the caller's value
 * @param argument - its name in messages, `entity` by default
 */
export function toStorableEntity(
  kind: string,
  entity: unknown,
  argument = 'entity',
): Record<string, EntityValue> {
  if (!isPlainObject(entity)) {
    throw new InvalidArgumentError(
      `${argument} of kind "${kind}" must be a plain object, got ${describeValue(entity)}.`,
      { context: { kind, argument } },
    );
  }
  try {
    return copyObject({ kind, argument, ancestors: new Set() }, entity, '', 0);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError(
      `${argument} of kind "${kind}" could not be read: reading it threw.`,
      {
        cause: error,
        context: { kind, argument },
      },
    );
  }
}

interface CopyState {
  readonly kind: string;
  readonly argument: string;
  /** Objects being copied, outermost first: meeting one again is a cycle. */
  readonly ancestors: Set<object>;
}

function copyObject(
  state: CopyState,
  source: Record<string, unknown>,
  path: string,
  depth: number,
): Record<string, EntityValue> {
  const out: Record<string, EntityValue> = {};
  state.ancestors.add(source);
  for (const [property, value] of Object.entries(source)) {
    if (value === undefined) continue;
    out[property] = copyValue(
      state,
      value,
      path ? `${path}.${property}` : property,
      false,
      depth + 1,
    );
  }
  state.ancestors.delete(source);
  return out;
}

function copyValue(
  state: CopyState,
  value: unknown,
  path: string,
  inArray: boolean,
  depth: number,
): EntityValue {
  const { kind } = state;
  const reject = (why: string): never => {
    throw new InvalidArgumentError(
      `Property "${path}" of kind "${kind}" cannot be stored: ${why}.`,
      { context: { kind, property: path, argument: `${state.argument}.${path}` } },
    );
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) return reject(`${value} is not a finite number`);
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        return reject(`${value} is outside the safe integer range and would lose precision`);
      }
      return value;
    case 'object': {
      if (value === null) return null;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) return reject('the Date is invalid');
        return new Date(value.getTime());
      }
      if (depth >= MAX_ENTITY_DEPTH)
        return reject(`it nests deeper than ${MAX_ENTITY_DEPTH} levels`);
      if (state.ancestors.has(value)) return reject('it contains itself (a cycle)');
      if (Array.isArray(value)) {
        if (inArray) return reject('arrays cannot contain arrays');
        state.ancestors.add(value);
        const copy = Array.from(value, (item: unknown, i): EntityValue => {
          if (item === undefined) return reject(`element ${i} is undefined`);
          return copyValue(state, item, `${path}[${i}]`, true, depth + 1);
        });
        state.ancestors.delete(value);
        return copy;
      }
      if (isPlainObject(value)) return copyObject(state, value, path, depth);
      return reject(`${describeValue(value)} is not plain data`);
    }
    default:
      return reject(`${describeValue(value)} values are not supported`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  try {
    const proto: unknown = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
  } catch {
    // A revoked proxy: nothing about it can be read, so it is no plain data.
    return false;
  }
}

/** Deep copy of a stored entity, so callers never share state with the store. */
export function cloneEntity<T>(entity: T): T {
  return structuredClone(entity);
}
