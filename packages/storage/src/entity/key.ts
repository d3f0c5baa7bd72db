import { InvalidArgumentError } from '../errors/index.js';
import { describeValue as describe } from '../util/describe-value.js';

/** Datastore rejects key names longer than this many UTF-8 bytes. */
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
 * A named kind of entity with a typed key factory, the way Objectify registers entity
 * classes.
 *
 * @example
 * ```ts
 * interface Page { title: string; views: number }
 * const Pages = defineKind<Page>('Page');
 * await store.save(Pages.key('home'), { title: 'Home', views: 0 });
 * ```
 */
export interface Kind<T extends object> {
  /** The kind name as stored. */
  readonly name: string;
  /** The typed key of the entity called `name` in this kind. */
  key(name: string): Key<T>;
}

/**
 * Makes a typed key. Throws {@link InvalidArgumentError} for an empty kind, an empty name or
 * a name over {@link MAX_KEY_NAME_BYTES} UTF-8 bytes.
 */
export function key<T extends object>(kind: string, name: string): Key<T> {
  assertKindName(kind);
  assertKeyName(kind, name);
  return Object.freeze({ kind, name }) as Key<T>;
}

/** Declares a kind of entity; see {@link Kind}. */
export function defineKind<T extends object>(name: string): Kind<T> {
  assertKindName(name);
  return Object.freeze({ name, key: (entityName: string) => key<T>(name, entityName) });
}

/** A string that identifies `k` uniquely; used for maps and messages. */
export function keyId(k: Key): string {
  return `${k.kind.length}:${k.kind}/${k.name}`;
}

/** Re-validates a key that may not have been made by {@link key} (e.g. a hand-built object). */
export function assertKey(k: unknown): asserts k is Key {
  if (typeof k !== 'object' || k === null) {
    throw new InvalidArgumentError(`Expected a key ({ kind, name }), got ${describe(k)}.`);
  }
  const { kind, name } = k as { kind?: unknown; name?: unknown };
  assertKindName(kind);
  assertKeyName(kind, name);
}

function assertKindName(kind: unknown): asserts kind is string {
  if (typeof kind !== 'string' || kind.length === 0) {
    throw new InvalidArgumentError(`A kind must be a non-empty string, got ${describe(kind)}.`);
  }
  if (kind.startsWith('__')) {
    throw new InvalidArgumentError(
      `Kind "${kind}" is reserved: Datastore kinds starting with "__" are system kinds.`,
      { context: { kind } },
    );
  }
}

function assertKeyName(kind: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(
      `A key name must be a non-empty string, got ${describe(name)} (kind "${kind}").`,
      { context: { kind } },
    );
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_KEY_NAME_BYTES) {
    throw new InvalidArgumentError(
      `Key name of kind "${kind}" is ${bytes} bytes; Datastore allows at most ${MAX_KEY_NAME_BYTES} UTF-8 bytes.`,
      { context: { kind, bytes } },
    );
  }
  if (/^__.*__$/.test(name)) {
    throw new InvalidArgumentError(
      `Key name "${name}" is reserved: Datastore names matching __*__ are system names.`,
      { context: { kind } },
    );
  }
}
