import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { EntityStore, QueryOptions } from '../entity/entity-store.js';
import { defineKind, type Kind } from '../entity/key.js';
import { compareKeyNames } from '../entity/key-order.js';

/** Registers one contract test on a fresh store; see `runEntityStoreContract`. */
export type ContractTest = (name: string, body: (store: EntityStore) => Promise<void>) => void;

interface Listed {
  n: number;
  status: 'ACTIVE' | 'DELETING';
}

const freshKind = (): Kind<Listed> => defineKind<Listed>(`Listed_${randomUUID().slice(0, 8)}`);

async function names(
  store: EntityStore,
  kind: Kind<Listed>,
  options: QueryOptions = {},
): Promise<string[]> {
  return (await store.query(kind, options)).map((row) => row.key.name);
}

async function saveNames(
  store: EntityStore,
  kind: Kind<Listed>,
  list: readonly string[],
  status: Listed['status'] = 'ACTIVE',
): Promise<void> {
  await store.saveMany(list.map((name, n) => ({ key: kind.key(name), entity: { n, status } })));
}

/**
 * Reads every page of a listing (`limit` per page, each page's last key name as the next
 * page's `startAfter`), calling `betweenPages` after each page; returns the names in the
 * order the pages gave them.
 */
async function listAll(
  store: EntityStore,
  kind: Kind<Listed>,
  options: QueryOptions & { readonly limit: number },
  betweenPages: (page: number, cursor: string) => Promise<void> = async () => {},
): Promise<{ names: string[]; pages: number }> {
  const all: string[] = [];
  let startAfter: string | undefined;
  for (let page = 1; ; page += 1) {
    const rows = await store.query(kind, {
      ...options,
      ...(startAfter === undefined ? {} : { startAfter }),
    });
    all.push(...rows.map((row) => row.key.name));
    const last = rows.at(-1)?.key.name;
    if (rows.length < options.limit || last === undefined) return { names: all, pages: page };
    startAfter = last;
    await betweenPages(page, last);
  }
}

const ascending = (list: readonly string[]): boolean =>
  list.every((name, i) => i === 0 || compareKeyNames(list[i - 1]!, name) < 0);

/**
 * The listing part of the `EntityStore` contract: `keyPrefix`, `startAfter` (the cursor)
 * and `limit` with equality filters, key names ordered by their UTF-8 bytes, and paging
 * through more than one page while other writers insert.
 */
export function registerListingContract(it: ContractTest): void {
  it('keyPrefix selects the names that start with it, with filters and limit', async (store) => {
    const kind = freshKind();
    await saveNames(store, kind, ['p', 'pa', 'pb', 'pz', 'o', 'q', 'P', 'p\u00e9']);
    await saveNames(store, kind, ['pc'], 'DELETING');
    assert.deepEqual(await names(store, kind, { keyPrefix: 'p' }), [
      'p',
      'pa',
      'pb',
      'pc',
      'pz',
      'p\u00e9',
    ]);
    assert.deepEqual(await names(store, kind, { keyPrefix: 'pa' }), ['pa']);
    assert.deepEqual(await names(store, kind, { keyPrefix: 'pab' }), []);
    assert.deepEqual(await names(store, kind, { keyPrefix: 'p', limit: 2 }), ['p', 'pa']);
    const deleting = [{ property: 'status', value: 'DELETING' }];
    assert.deepEqual(await names(store, kind, { keyPrefix: 'p', filters: deleting }), ['pc']);
    assert.deepEqual(await names(store, kind, { keyPrefix: '' }), await names(store, kind));
  });

  it('startAfter returns only names strictly after it, with or without a prefix', async (store) => {
    const kind = freshKind();
    await saveNames(store, kind, ['a', 'b', 'ba', 'bb', 'c', 'd']);
    assert.deepEqual(await names(store, kind, { startAfter: 'b' }), ['ba', 'bb', 'c', 'd']);
    assert.deepEqual(await names(store, kind, { startAfter: 'bz', limit: 1 }), ['c']);
    assert.deepEqual(await names(store, kind, { startAfter: 'a', keyPrefix: 'b' }), [
      'b',
      'ba',
      'bb',
    ]);
    assert.deepEqual(await names(store, kind, { startAfter: 'ba', keyPrefix: 'b' }), ['bb']);
    assert.deepEqual(await names(store, kind, { startAfter: 'c', keyPrefix: 'b' }), []);
    assert.deepEqual(await names(store, kind, { startAfter: 'd' }), []);
    const active = [{ property: 'status', value: 'ACTIVE' }];
    assert.deepEqual(await names(store, kind, { startAfter: 'bb', filters: active, limit: 5 }), [
      'c',
      'd',
    ]);
  });

  it('orders names by their UTF-8 bytes and pages through non-ASCII names', async (store) => {
    const kind = freshKind();
    // Names whose order is the same by UTF-8 bytes and by UTF-16 code units, so that every
    // backend agrees (the emulator's order differs only for U+E000..U+FFFF against
    // characters above U+FFFF); `compareKeyNames` is the order to page by.
    const expected = [
      'A',
      'a',
      'ab',
      'z',
      '\u00e9',
      '\u00e9t\u00e9',
      '\u4e2d',
      '\u{1F600}',
      '\u{1F600}x',
    ];
    await saveNames(store, kind, [...expected].reverse());
    assert.deepEqual(await names(store, kind), expected);
    assert.deepEqual([...expected].sort(compareKeyNames), expected);
    assert.deepEqual(await names(store, kind, { keyPrefix: '\u{1F600}' }), [
      '\u{1F600}',
      '\u{1F600}x',
    ]);
    assert.deepEqual(await names(store, kind, { keyPrefix: '\u00e9' }), [
      '\u00e9',
      '\u00e9t\u00e9',
    ]);
    assert.deepEqual(await names(store, kind, { startAfter: '\u00e9t\u00e9' }), [
      '\u4e2d',
      '\u{1F600}',
      '\u{1F600}x',
    ]);
    const { names: paged, pages } = await listAll(store, kind, { limit: 2 });
    assert.deepEqual(paged, expected);
    assert.equal(pages, 5);
  });

  it('prefixes at the edges: reserved-looking, ending in U+FFFF, with no successor', async (store) => {
    const kind = freshKind();
    await saveNames(store, kind, [
      '__a__b', // starts with a prefix of the reserved form __*__
      '__a_^x', // the successor of the prefix __a_^ is __a__, reserved
      '__a_`',
      'p\uffff',
      'p\uffffx',
      'p\u{10000}',
      'q',
      '\u{10FFFF}\u{10FFFF}a',
    ]);
    assert.deepEqual(await names(store, kind, { keyPrefix: '__a__' }), ['__a__b']);
    assert.deepEqual(await names(store, kind, { keyPrefix: '__a_^' }), ['__a_^x']);
    assert.deepEqual(await names(store, kind, { keyPrefix: '__a_^', limit: 1 }), ['__a_^x']);
    assert.deepEqual(await names(store, kind, { keyPrefix: 'p\uffff' }), ['p\uffff', 'p\uffffx']);
    assert.deepEqual(await names(store, kind, { keyPrefix: 'p\u{10000}' }), ['p\u{10000}']);
    assert.deepEqual(await names(store, kind, { keyPrefix: '\u{10FFFF}' }), [
      '\u{10FFFF}\u{10FFFF}a',
    ]);
    assert.deepEqual(await names(store, kind, { keyPrefix: '\u{10FFFF}\u{10FFFF}b' }), []);
    assert.deepEqual(await names(store, kind, { keyPrefix: 'x'.repeat(1500) }), []);
  });

  it('pages over several pages while others insert: every name once, in order', async (store) => {
    const kind = freshKind();
    const original = Array.from(
      { length: 30 },
      (_, i) => `item-${String(i * 10).padStart(4, '0')}`,
    );
    await saveNames(store, kind, original);
    await saveNames(store, kind, ['item-0005', 'item-0155'], 'DELETING');
    await saveNames(store, kind, ['itel', 'iten', 'other']);
    const behind: string[] = [];
    const ahead: string[] = [];
    // A writer that keeps inserting at random positions while the listing runs.
    let listing = true;
    const racing: string[] = [];
    const writer = (async () => {
      for (let i = 0; listing && i < 200; i += 1) {
        const name = `item-${String(Math.floor(Math.random() * 300)).padStart(4, '0')}-w${i}`;
        await saveNames(store, kind, [name]);
        racing.push(name);
      }
    })();
    const active = [{ property: 'status', value: 'ACTIVE' }];
    let result: { names: string[]; pages: number };
    try {
      result = await listAll(
        store,
        kind,
        { keyPrefix: 'item-', filters: active, limit: 4 },
        async (page, cursor) => {
          if (page > 5) return;
          // Inserted between pages: one behind the cursor (never listed), one ahead (listed).
          const before = `${cursor.slice(0, -1)}!-${page}`;
          const after = `item-9999-${page}`;
          await saveNames(store, kind, [before, after]);
          behind.push(before);
          ahead.push(after);
        },
      );
    } finally {
      listing = false;
      await writer;
    }
    const listed = result.names;
    assert.ok(ascending(listed), `pages out of order or repeated: ${listed.join(', ')}`);
    assert.ok(result.pages >= 8, `only ${result.pages} pages`);
    for (const name of [...original, ...ahead]) {
      assert.equal(listed.filter((n) => n === name).length, 1, `${name} not listed once`);
    }
    for (const name of behind) assert.ok(!listed.includes(name), `${name} was behind the cursor`);
    for (const name of listed) {
      assert.ok(name.startsWith('item-'), `${name} is outside the prefix`);
      assert.ok(name !== 'item-0005' && name !== 'item-0155', `${name} fails the filter`);
      assert.ok(
        original.includes(name) || ahead.includes(name) || racing.includes(name),
        `${name} was never written`,
      );
    }
  });
}
