import { MAX_KEY_NAME_BYTES } from './key.js';

/**
 * Compares two key names the way Cloud Datastore orders them: by their UTF-8 bytes, which
 * is the order of their Unicode code points. JavaScript's `<` compares UTF-16 code units
 * instead and puts a character above U+FFFF (a surrogate pair, e.g. an emoji) before one
 * from U+E000 to U+FFFF; this does not. Returns a negative number when `a` sorts first, 0
 * when equal, a positive number when `b` sorts first. Both must be well-formed strings (key
 * names are).
 *
 * Use it to sort or page key names in the order `EntityStore.query` returns them.
 *
 * @example
 * ```ts
 * ['\u{1F600}', '\uFFFD', 'a'].sort(compareKeyNames); // ['a', '\uFFFD', '\u{1F600}']
 * ```
 */
export function compareKeyNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/**
 * Ranks a UTF-16 code unit at the first position where two well-formed strings differ so
 * that code point order results: a surrogate starts a code point above U+FFFF, so it ranks
 * above U+E000–U+FFFF. (Both units are surrogates, or neither is, when the difference is
 * in a low surrogate.)
 */
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** Whether `name` has the form `__*__`, which Datastore reserves and refuses as a key name. */
export function isReservedKeyName(name: string): boolean {
  return name.length >= 4 && name.startsWith('__') && name.endsWith('__');
}

/**
 * The smallest string that sorts after every string starting with `prefix`, in UTF-8 byte
 * order and in UTF-16 code unit order alike (the Datastore emulator, a Java program, orders
 * key names by UTF-16 code units; production Datastore by UTF-8 bytes), or `undefined` when
 * there is none that is a usable key name (too long, reserved, or `prefix` made only of
 * U+FFFF and U+10FFFF). Range queries use it as an exclusive upper bound and drop the rows
 * that do not start with `prefix` when it is `undefined`.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  let end = prefix.length;
  while (end > 0) {
    const last = prefix.codePointAt(end - 1) ?? 0;
    // A low surrogate at end - 1: the code point starts one unit earlier.
    const start = last >= 0xdc00 && last <= 0xdfff ? end - 2 : end - 1;
    const codePoint = prefix.codePointAt(start) ?? 0;
    const next = successorInBothOrders(codePoint);
    if (next !== undefined) {
      const bound = prefix.slice(0, start) + String.fromCodePoint(next);
      return usableKeyName(bound) ? bound : undefined;
    }
    end = start; // U+FFFF or U+10FFFF: carry into the previous character
  }
  return undefined;
}

/**
 * The code point after `codePoint` such that replacing the last character of a prefix by it
 * bounds that prefix in both orders; `undefined` where none does (carry instead).
 */
function successorInBothOrders(codePoint: number): number | undefined {
  // U+FFFF's successor U+10000 is a surrogate pair, which UTF-16 order puts below U+FFFF.
  if (codePoint === 0xffff || codePoint === 0x10ffff) return undefined;
  if (codePoint === 0xd7ff) return 0xe000; // skip the surrogates, which are not characters
  return codePoint + 1;
}

function usableKeyName(name: string): boolean {
  return Buffer.byteLength(name, 'utf8') <= MAX_KEY_NAME_BYTES && !isReservedKeyName(name);
}
