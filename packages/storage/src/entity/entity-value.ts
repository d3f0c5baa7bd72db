import { InvalidArgumentError } from '../errors/index.js';
import { describeValue } from '../util/describe-value.js';

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

/**
 * Checks that `entity` can be stored and returns a deep copy holding only storable values;
 * properties whose value is `undefined` are left out, as JSON does. Throws
 * {@link InvalidArgumentError} naming the offending property path.
 */
export function toStorableEntity(kind: string, entity: unknown): Record<string, EntityValue> {
  if (!isPlainObject(entity)) {
    throw new InvalidArgumentError(
      `An entity of kind "${kind}" must be a plain object, got ${describeValue(entity)}.`,
      { context: { kind } },
    );
  }
  return copyObject(kind, entity, '');
}

function copyObject(
  kind: string,
  source: Record<string, unknown>,
  path: string,
): Record<string, EntityValue> {
  const out: Record<string, EntityValue> = {};
  for (const [property, value] of Object.entries(source)) {
    if (value === undefined) continue;
    out[property] = copyValue(kind, value, path ? `${path}.${property}` : property, false);
  }
  return out;
}

function copyValue(kind: string, value: unknown, path: string, inArray: boolean): EntityValue {
  const reject = (why: string): never => {
    throw new InvalidArgumentError(
      `Property "${path}" of kind "${kind}" cannot be stored: ${why}.`,
      { context: { kind, property: path } },
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
      if (Array.isArray(value)) {
        if (inArray) return reject('arrays cannot contain arrays');
        return value.map((item, i) => {
          if (item === undefined) return reject(`element ${i} is undefined`);
          return copyValue(kind, item, `${path}[${i}]`, true);
        });
      }
      if (isPlainObject(value)) return copyObject(kind, value, path);
      return reject(`${value.constructor?.name ?? 'object'} instances are not plain data`);
    }
    default:
      return reject(`${describeValue(value)} values are not supported`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Deep copy of a stored entity, so callers never share state with the store. */
export function cloneEntity<T>(entity: T): T {
  return structuredClone(entity);
}
