/** Longest piece of caller-supplied text (a string, a class or symbol name) a description quotes. */
const MAX_QUOTED_CHARS = 40;

/**
 * A short description of any value for error messages (`the string "views"`, `number NaN`,
 * `an object with a null prototype`): never the whole value, and never a throw, whatever the
 * value is (a null-prototype object, a symbol, a bigint, a revoked proxy, an object whose
 * getters throw). Shared by every shardcount package so messages read alike.
 */
export function describeValue(value: unknown): string {
  try {
    return describe(value);
  } catch {
    // A proxy whose traps throw; nothing about it can be read safely.
    return 'a value that cannot be inspected';
  }
}

function describe(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      if (value.length === 0) return 'an empty string';
      return value.length > MAX_QUOTED_CHARS
        ? `a ${value.length}-character string ${quote(value.slice(0, MAX_QUOTED_CHARS))}...`
        : `the string ${quote(value)}`;
    case 'number':
      return `number ${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'bigint':
      return `bigint ${clip(value.toString())}n`;
    case 'boolean':
      return `boolean ${String(value)}`;
    case 'symbol':
      return `symbol ${clip(value.toString())}`;
    case 'function':
      return 'a function';
    default:
      return describeObject(value as object | null);
  }
}

function describeObject(value: object | null): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    return value.length === 1 ? 'an array of 1 item' : `an array of ${value.length} items`;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null) return 'an object with a null prototype';
  if (proto === Object.prototype) return 'an object';
  if (value instanceof Date) return 'a Date';
  // Read the constructor's name without calling anything the value defines.
  const ctor: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value;
  const name: unknown =
    typeof ctor === 'function' ? Object.getOwnPropertyDescriptor(ctor, 'name')?.value : undefined;
  return typeof name === 'string' && name.length > 0 ? `an instance of ${clip(name)}` : 'an object';
}

/** JSON quoting shows control characters and lone surrogates as escapes, never raw. */
function quote(text: string): string {
  return JSON.stringify(text);
}

function clip(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}...` : text;
}
