import { InvalidArgumentError } from '../errors/index.js';
import { assertArray, assertObject, assertString, invalidArgument } from '../validation/assert.js';
import { readOptions } from '../validation/options.js';

/** Datastore rejects key names (and kind names) longer than this many UTF-8 bytes. */
export const MAX_KEY_NAME_BYTES = 1500;

declare const entityType: unique symbol;

/**
 * A typed reference to one entity: its kind and its string name. `T` is the shape of the
 * entity stored under it and exists only at compile time. Keys are plain values: two keys
 * with the same kind and name refer to the same entity.
 */
export interface Key<T extends object = object> {
  /** The entity kind (Datastore kind), e.g. `ShardcountCounter`. */
  readonly kind: string;
  /** The entity's name within its kind (never a numeric id). */
  readonly name: string;
  /** Phantom marker carrying the entity type; never set at run time. */
  readonly [entityType]?: T;
}

/**
 * How a kind is stored, declared once with {@link defineKind} (the way Objectify annotates an
 * entity class).
 */
export interface KindOptions<T extends object> {
  /**
   * Top-level properties stored without an index, like Objectify's `@Unindex`. Cloud
   * Datastore indexes every property by default; each indexed property costs index writes on
   * every commit that changes it, and an index of monotonically increasing values (timestamps)
   * written at a high rate becomes a hotspot (Google's guidance: about 500 writes/s per narrow
   * index range). List here the properties that are never queried, such as a sharded
   * counter's `count` and timestamps.
   *
   * On Datastore (`DatastoreEntityStore`) a query cannot filter on an unindexed property: an
   * equality filter on one finds nothing, whatever is stored. An array property has each of
   * its values unindexed, and an embedded entity (a map) is unindexed whole, sub-properties
   * included. Loading is unaffected. The in-memory store (`MemoryEntityStore`) ignores the
   * option and filters on every property, so code that must run on both never filters on an
   * unindexed property.
   *
   * Names are top-level property names (no `.` or `[`). The option travels with the keys that
   * {@link Kind.key} makes: an entity written through a key made by the plain {@link key}
   * function (or built by hand) is indexed in full.
   */
  readonly unindexed?: readonly (keyof T & string)[];
}

/**
 * A named kind of entity with a typed key factory, the way Objectify registers entity
 * classes.
 *
 * @example
 * ```ts
 * interface Page { title: string; views: number; updatedAt: Date }
 * const Pages = defineKind<Page>('Page', { unindexed: ['views', 'updatedAt'] });
 * await store.save(Pages.key('home'), { title: 'Home', views: 0, updatedAt: new Date() });
 * ```
 */
export interface Kind<T extends object> {
  /** The kind name as stored. */
  readonly name: string;
  /** Top-level properties stored unindexed (see {@link KindOptions.unindexed}); frozen. */
  readonly unindexed: readonly string[];
  /**
   * The typed key of the entity called `name` in this kind. It is equal (same `keyId`, deeply
   * equal) to the key {@link key} makes, and also carries the kind's unindexed properties,
   * under a non-enumerable symbol, for the backend ({@link unindexedPropertiesOf}).
   */
  key(name: string): Key<T>;
}

/**
 * Makes a typed key. Throws {@link InvalidArgumentError} for a kind or name that is not a
 * non-empty, well-formed string of at most {@link MAX_KEY_NAME_BYTES} UTF-8 bytes, a kind
 * starting with `__` or a name matching `__*__` (Datastore reserves both).
 */
export function key<T extends object>(kind: string, name: string): Key<T> {
  assertKindName(kind, 'kind');
  assertKeyName(kind, name, 'name');
  return Object.freeze({ kind, name }) as Key<T>;
}

/**
 * Where a kind-made key keeps its kind's unindexed properties: a non-enumerable symbol, so the
 * key stays `{ kind, name }` to `keyId`, JSON, spreading and deep equality.
 */
const UNINDEXED = Symbol('shardcount.unindexed');

const NONE: readonly string[] = Object.freeze([]);

/**
 * Declares a kind of entity; see {@link Kind} and {@link KindOptions}. Throws
 * {@link InvalidArgumentError} for a bad kind name or a bad `unindexed` list (not an array of
 * distinct top-level property names).
 */
export function defineKind<T extends object>(name: string, options: KindOptions<T> = {}): Kind<T> {
  assertKindName(name, 'name');
  const unindexed = unindexedList(name, options);
  const makeKey = (entityName: string): Key<T> => {
    assertKeyName(name, entityName, 'name');
    const k = { kind: name, name: entityName };
    if (unindexed.length > 0) Object.defineProperty(k, UNINDEXED, { value: unindexed });
    return Object.freeze(k) as Key<T>;
  };
  return Object.freeze({ name, unindexed, key: makeKey });
}

/**
 * For backends (the API an `EntityBackend` with indexes, like Datastore's, uses): the
 * top-level properties that the kind which made `k` declared unindexed
 * ({@link KindOptions.unindexed}); empty for a key made by {@link key} or by hand.
 */
export function unindexedPropertiesOf(k: Key): readonly string[] {
  return (k as { readonly [UNINDEXED]?: readonly string[] })[UNINDEXED] ?? NONE;
}

/** A string that identifies `k` uniquely; used for maps and messages. */
export function keyId(k: Key): string {
  return `${k.kind.length}:${k.kind}/${k.name}`;
}

/**
 * Re-validates a key that may not have been made by {@link key} (e.g. a hand-built object):
 * an object whose `kind` and `name` pass the checks of {@link key}.
 *
 * @param k - the value to check
 * @param argument - its name in messages (`key`, `keys[3]`); `key` by default
 */
export function assertKey(k: unknown, argument = 'key'): asserts k is Key {
  assertObject(k, argument);
  let kind: unknown;
  let name: unknown;
  try {
    ({ kind, name } = k as { kind?: unknown; name?: unknown });
  } catch (cause) {
    throw new InvalidArgumentError(`${argument} could not be read: reading it threw.`, {
      cause,
      context: { argument },
    });
  }
  assertKindName(kind, `${argument}.kind`);
  assertKeyName(kind, name, `${argument}.name`);
}

function unindexedList<T extends object>(kind: string, options: KindOptions<T>): readonly string[] {
  const fields = readOptions(options, 'options', ['unindexed'], { kind });
  const list = fields.unindexed;
  if (list === undefined) return NONE;
  assertArray(list, 'options.unindexed', { kind });
  const seen = new Set<string>();
  for (const [i, property] of list.entries()) {
    // The Datastore client reads `.` and `[]` in these names as paths into embedded entities
    // and arrays; a top-level name never needs them.
    if (typeof property !== 'string' || property.length === 0 || /[.[\]]/.test(property)) {
      throw invalidArgument(
        `options.unindexed[${i}]`,
        'a top-level property name (non-empty, without "." or "[")',
        property,
        { kind },
      );
    }
    if (seen.has(property)) {
      throw new InvalidArgumentError(`unindexed of kind "${kind}" lists "${property}" twice.`, {
        context: { kind, argument: `options.unindexed[${i}]`, property },
      });
    }
    seen.add(property);
  }
  return seen.size === 0 ? NONE : Object.freeze([...seen]);
}

/** Throws unless `kind` is a kind name Datastore accepts. */
export function assertKindName(kind: unknown, argument = 'kind'): asserts kind is string {
  assertString(kind, argument);
  if (kind.startsWith('__')) {
    throw new InvalidArgumentError(
      `Kind "${kind}" is reserved: Datastore kinds starting with "__" are system kinds.`,
      { context: { kind, argument } },
    );
  }
  const bytes = Buffer.byteLength(kind, 'utf8');
  if (bytes > MAX_KEY_NAME_BYTES) {
    throw new InvalidArgumentError(
      `${argument} is ${bytes} bytes; Datastore allows kinds of at most ${MAX_KEY_NAME_BYTES} UTF-8 bytes.`,
      { context: { bytes, argument } },
    );
  }
}

/**
 * Throws unless `name` is a key name of `kind` that {@link key} accepts (non-empty,
 * well-formed, at most {@link MAX_KEY_NAME_BYTES} UTF-8 bytes, not of the form `__*__`).
 */
export function assertKeyName(
  kind: string,
  name: unknown,
  argument: string,
): asserts name is string {
  assertString(name, argument, { context: { kind } });
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_KEY_NAME_BYTES) {
    throw new InvalidArgumentError(
      `Key name of kind "${kind}" is ${bytes} bytes; Datastore allows at most ${MAX_KEY_NAME_BYTES} UTF-8 bytes.`,
      { context: { kind, bytes, argument } },
    );
  }
  if (/^__.*__$/.test(name)) {
    throw new InvalidArgumentError(
      `Key name "${name}" is reserved: Datastore names matching __*__ are system names.`,
      { context: { kind, argument } },
    );
  }
}
