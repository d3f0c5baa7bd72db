/**
 * Shared pieces of the property-based bad-input tests: an arbitrary for "anything a caller
 * could pass" (with the values that broke shardcount before: NaN, ±Infinity, -0, 2^31,
 * unsafe integers, lone surrogates, null-prototype objects, symbols, bigints, getters that
 * throw, revoked proxies, cycles) and the one property every public call must satisfy.
 */
import { isShardcountError } from '@shardcount/storage';
import fc from 'fast-check';

/** Longest a call may take before the property calls it a hang. */
export const HANG_MS = 2000;

/** Field names the public options and arguments use. */
const FIELD_NAMES = [
  'ttlSeconds',
  'initial',
  'maxEntries',
  'now',
  'limits',
  'retry',
  'onRetry',
  'filters',
  'limit',
  'kind',
  'name',
  'key',
  'entity',
  'property',
  'value',
  'retries',
  'cache',
  'namespace',
  'maxStalenessMs',
] as const;

/** An object whose field `name` is a getter that throws a raw `TypeError`. */
function throwingGetter(name: string): object {
  const target: Record<string, unknown> = {};
  Object.defineProperty(target, name, {
    enumerable: true,
    get() {
      throw new TypeError(`getter ${name} throws`);
    },
  });
  return target;
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function cyclic(): object {
  const value: Record<string, unknown> = { n: 1 };
  value.self = value;
  return value;
}

/** Values that broke some boundary before, or sit on a documented range's edge. */
export const edgeValues = fc.constantFrom<unknown>(
  undefined,
  null,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  -1,
  0,
  1,
  1.5,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  2 ** 60,
  10n,
  '',
  ' ',
  'abc',
  '\uD800',
  'x'.repeat(1501),
  '__reserved__',
  Symbol('s'),
  true,
  [],
  ['abc'],
  {},
  Object.create(null),
  new Date(Number.NaN),
  new Map(),
  () => 1,
  cyclic(),
);

/**
 * Stands for a value that throws when inspected (a revoked proxy, an object whose getters
 * throw): fast-check inspects the values it generates, so the value itself is put in by
 * {@link materialize} just before the call.
 */
class HostileMarker {
  constructor(readonly make: () => object) {}
}

const hostile = fc.constantFrom(
  new HostileMarker(revokedProxy),
  ...FIELD_NAMES.map((name) => new HostileMarker(() => throwingGetter(name))),
);

/**
 * Replaces the hostile-value markers in `args` (at the top level, and one level into arrays
 * and plain objects) with the real values.
 */
export function materialize(args: readonly unknown[]): unknown[] {
  const swap = (value: unknown): unknown => (value instanceof HostileMarker ? value.make() : value);
  return args.map((arg) => {
    if (Array.isArray(arg)) return arg.map(swap);
    if (
      typeof arg === 'object' &&
      arg !== null &&
      Object.getPrototypeOf(arg) === Object.prototype
    ) {
      return Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, swap(v)]));
    }
    return swap(arg);
  });
}

/** Anything: fast-check's structured values (null-prototype objects, bigints, sparse arrays...) or an edge value. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  edgeValues,
  hostile,
  fc.anything({
    maxDepth: 2,
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withSparseArray: true,
    withTypedArray: true,
  }),
);

/** `value` itself, or an options-like record holding it under one of `fields` (or a misspelt field). */
export function optionsWith(fields: readonly string[], value: fc.Arbitrary<unknown>) {
  return fc.oneof(
    fc.constant(undefined),
    anyValue,
    fc.dictionary(fc.constantFrom(...fields, 'ttl', 'unknown'), value, { maxKeys: 3 }),
  );
}

/** How a call ended. */
export type Outcome =
  | { readonly kind: 'resolved'; readonly value: unknown }
  | { readonly kind: 'rejected'; readonly error: unknown }
  | { readonly kind: 'threw'; readonly error: unknown }
  | { readonly kind: 'hung' };

/** Runs `call` and says how it ended, giving up after {@link HANG_MS}. */
export async function outcomeOf(call: () => unknown): Promise<Outcome> {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    return { kind: 'threw', error };
  }
  if (!(result instanceof Promise)) return { kind: 'resolved', value: result };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'hung' }), HANG_MS);
  });
  try {
    return await Promise.race([
      result.then(
        (value): Outcome => ({ kind: 'resolved', value }),
        (error: unknown): Outcome => ({ kind: 'rejected', error }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The property: the call succeeded, or it failed with a `ShardcountError` whose
 * `context.argument` names one of `parameters` (itself or a path inside it, such as
 * `options.ttlSeconds` or `keys[2]`). Never a raw `TypeError`/`RangeError`, never a hang; an
 * async method rejects rather than throwing. Returns the error, if any, for further checks.
 */
export function assertRefusedOrDone(
  outcome: Outcome,
  parameters: readonly string[],
  options: { readonly async: boolean },
): unknown {
  if (outcome.kind === 'hung') throw new Error(`the call did not settle within ${HANG_MS} ms`);
  if (outcome.kind === 'resolved') return undefined;
  if (outcome.kind === 'threw' && options.async) {
    throw new Error(`an async method threw synchronously: ${String(outcome.error)}`);
  }
  const { error } = outcome;
  if (!isShardcountError(error)) {
    throw new Error(`not a ShardcountError: ${describeError(error)}`);
  }
  const argument = error.context.argument;
  const named =
    typeof argument === 'string' &&
    parameters.some(
      (p) => argument === p || argument.startsWith(`${p}.`) || argument.startsWith(`${p}[`),
    );
  if (!named) {
    throw new Error(
      `${error.name} does not name one of ${parameters.join(', ')} (context.argument ${String(argument)}): ${error.message}`,
    );
  }
  return error;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
}

/** Counts generated cases across a file, for the report. */
export class CaseCounter {
  #count = 0;

  /** Counts one case. */
  add(): void {
    this.#count += 1;
  }

  /** Cases counted. */
  get count(): number {
    return this.#count;
  }
}
