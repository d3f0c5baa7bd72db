import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prefixUpperBound } from '../src/entity/key-order.js';
import { compareKeyNames, defineKind, MemoryEntityStore } from '../src/index.js';

const utf8Order = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const utf16Order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sign = (n: number): number => Math.sign(n);

/** Characters from every UTF-8 length class and both sides of the surrogate block. */
const edgyChar = fc.constantFrom(
  'a',
  'z',
  '\u007f',
  '\u0080',
  '\u00e9',
  '\u07ff',
  '\u0800',
  '\ud7ff',
  '\ue000',
  '\ufffd',
  '\uffff',
  '\u{10000}',
  '\u{1F600}',
  '\u{1FFFF}',
  '\u{20000}',
  '\u{10FFFF}',
);
const edgyName = fc
  .array(fc.oneof(edgyChar, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), {
    minLength: 1,
    maxLength: 6,
  })
  .map((parts) => parts.join(''));

describe('compareKeyNames: the order Datastore gives key names (UTF-8 bytes)', () => {
  it('agrees with comparing the UTF-8 bytes, for any well-formed names', () => {
    fc.assert(
      fc.property(edgyName, edgyName, (a, b) => {
        expect(sign(compareKeyNames(a, b))).toBe(sign(utf8Order(a, b)));
      }),
      { numRuns: 5000 },
    );
  });

  it('differs from JavaScript < where UTF-16 does: U+E000..U+FFFF against astral characters', () => {
    expect(utf16Order('\u{1F600}', '\ufffd')).toBe(-1);
    expect(compareKeyNames('\u{1F600}', '\ufffd')).toBeGreaterThan(0);
    expect(['\u{1F600}', '\ufffd', '\ue000', 'a'].sort(compareKeyNames)).toEqual([
      'a',
      '\ue000',
      '\ufffd',
      '\u{1F600}',
    ]);
  });
});

describe('prefixUpperBound: the exclusive end of a prefix range', () => {
  it('is above every name that starts with the prefix, in UTF-8 and UTF-16 order alike', () => {
    fc.assert(
      fc.property(edgyName, edgyName, (prefix, rest) => {
        const bound = prefixUpperBound(prefix);
        if (bound === undefined) return;
        for (const order of [utf8Order, utf16Order]) {
          expect(order(prefix, bound)).toBe(-1);
          expect(order(prefix + rest, bound)).toBe(-1);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('carries past U+FFFF and U+10FFFF, skips the surrogates, and gives up when it must', () => {
    expect(prefixUpperBound('ab')).toBe('ac');
    expect(prefixUpperBound('a\uffff')).toBe('b');
    expect(prefixUpperBound('a\u{10FFFF}')).toBe('b');
    expect(prefixUpperBound('a\ud7ff')).toBe('a\ue000');
    expect(prefixUpperBound('a\u{1FFFF}')).toBe('a\u{20000}');
    expect(prefixUpperBound('\uffff\u{10FFFF}')).toBeUndefined();
    expect(prefixUpperBound('__a_^')).toBeUndefined(); // __a__ is reserved
    expect(prefixUpperBound(`${'x'.repeat(1499)}\u007f`)).toBeUndefined(); // 1501 bytes
  });
});

interface Row {
  n: number;
}

describe('MemoryEntityStore orders and pages names by UTF-8 bytes', () => {
  it('puts U+E000..U+FFFF before characters above U+FFFF, and pages by that order', async () => {
    const store = new MemoryEntityStore();
    const Rows = defineKind<Row>('Row');
    const names = ['\u{1F600}', '\ufffd', '\ue000', 'z', '\u{1F600}\ufffd'];
    await store.saveMany(names.map((name, n) => ({ key: Rows.key(name), entity: { n } })));
    const order = ['z', '\ue000', '\ufffd', '\u{1F600}', '\u{1F600}\ufffd'];
    expect((await store.query(Rows)).map((r) => r.key.name)).toEqual(order);
    expect((await store.query(Rows, { startAfter: '\ufffd' })).map((r) => r.key.name)).toEqual(
      order.slice(3),
    );
    expect((await store.query(Rows, { keyPrefix: '\ufffd' })).map((r) => r.key.name)).toEqual([
      '\ufffd',
    ]);
  });
});
