import type { Datastore } from '@google-cloud/datastore';
import { OutOfRangeError, ShardcountError } from '../errors/index.js';
import type { StoredEntity } from './entity-backend.js';
import type { EntityValue } from './entity-value.js';
import type { Key } from './key.js';

// How values map is documented on DatastoreEntityStore (the user-facing place). The
// client's own helpers (isInt, double) are used instead of the package's statics, so that
// importing @shardcount/storage does not load @google-cloud/datastore for users who never
// touch Datastore.

/**
 * Prepares a validated entity for `@google-cloud/datastore`: only `-0` needs a wrapper
 * (a whole number would otherwise be written as the integer 0).
 *
 * @param datastore - the client, whose `double()` wraps `-0`
 * @param entity - the validated entity
 */
export function toDatastoreData(
  datastore: Datastore,
  entity: StoredEntity,
): Record<string, unknown> {
  const convert = (value: EntityValue | undefined): unknown => {
    if (typeof value === 'number') return Object.is(value, -0) ? datastore.double(-0) : value;
    if (value === null || typeof value !== 'object' || value instanceof Date) return value;
    if (Array.isArray(value)) return value.map(convert);
    const out: Record<string, unknown> = {};
    for (const [property, item] of Object.entries(value)) {
      if (item !== undefined) out[property] = convert(item);
    }
    return out;
  };
  const out: Record<string, unknown> = {};
  for (const [property, value] of Object.entries(entity)) out[property] = convert(value);
  return out;
}

/**
 * Converts an entity read with `wrapNumbers: true` to a plain {@link StoredEntity}: the
 * Datastore key symbol is dropped, wrapped integers become numbers when they are safe.
 *
 * @param datastore - the client that read it, whose `isInt()`/`isDouble()` recognise its wrappers
 * @param key - the entity's key, for error messages
 * @param native - the entity as `@google-cloud/datastore` returned it
 * @throws OutOfRangeError when an integer is outside the safe-integer range
 */
export function fromDatastoreEntity(datastore: Datastore, key: Key, native: object): StoredEntity {
  const convert = (path: string, value: unknown): EntityValue => {
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (typeof value === 'number') return value;
    if (datastore.isInt(value)) return toSafeNumber(key, path, value.value);
    if (datastore.isDouble(value)) return Number(value.value);
    if (value instanceof Date) return new Date(value.getTime());
    if (Array.isArray(value)) return value.map((item, i) => convert(`${path}[${i}]`, item));
    if (isPlainObject(value)) {
      const out: Record<string, EntityValue> = {};
      for (const [property, item] of Object.entries(value)) {
        out[property] = convert(`${path}.${property}`, item);
      }
      return out;
    }
    return unsupported(key, path, value);
  };
  const out: StoredEntity = {};
  // Object.entries skips the KEY symbol the library adds.
  for (const [property, value] of Object.entries(native)) out[property] = convert(property, value);
  return out;
}

function unsupported(key: Key, path: string, value: unknown): never {
  throw new ShardcountError(
    'UNSUPPORTED_VALUE',
    `Property "${path}" of ${key.kind} "${key.name}" holds a ${describeNative(value)}, which is not a shardcount entity value (written by another client?).`,
    { context: { kind: key.kind, name: key.name, property: path } },
  );
}

function toSafeNumber(key: Key, path: string, digits: string): number {
  const exact = BigInt(digits);
  if (exact > BigInt(Number.MAX_SAFE_INTEGER) || exact < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new OutOfRangeError(
      `Property "${path}" of ${key.kind} "${key.name}" holds the integer ${digits}, outside the safe-integer range of JavaScript numbers; refusing to round it.`,
      { context: { kind: key.kind, name: key.name, property: path, value: digits } },
    );
  }
  return Number(exact);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeNative(value: unknown): string {
  if (Buffer.isBuffer(value)) return 'blob';
  if (typeof value === 'object' && value !== null) {
    return value.constructor?.name ? `${value.constructor.name} value` : 'object';
  }
  return `${typeof value} value`;
}
