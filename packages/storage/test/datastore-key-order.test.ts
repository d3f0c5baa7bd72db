import { realEntityStore } from '@shardcount/test-services';
import { describe, expect, it } from 'vitest';
import { defineKind } from '../src/index.js';

interface Row {
  n: number;
}

describe('the Datastore emulator (measured): it orders key names by UTF-16 code units', () => {
  // Production Datastore orders by UTF-8 bytes, as MemoryEntityStore does; the emulator, a
  // Java program, does not. Both agree unless a name has a character from U+E000 to U+FFFF
  // where another has one above U+FFFF. If this starts failing, the emulator changed: the
  // README's note on the difference can go.
  it('puts an emoji before U+FFFD, and the key range filters follow the same order', async () => {
    const store = realEntityStore();
    try {
      const Rows = defineKind<Row>('Row');
      await store.saveMany(
        ['\u{1F600}', '\ufffd', 'z'].map((name, n) => ({ key: Rows.key(name), entity: { n } })),
      );
      expect((await store.query(Rows)).map((r) => r.key.name)).toEqual([
        'z',
        '\u{1F600}',
        '\ufffd',
      ]);
      expect((await store.query(Rows, { startAfter: '\u{1F600}' })).map((r) => r.key.name)).toEqual(
        ['\ufffd'],
      );
      // A prefix still selects exactly its names in either order.
      expect((await store.query(Rows, { keyPrefix: '\u{1F600}' })).map((r) => r.key.name)).toEqual([
        '\u{1F600}',
      ]);
    } finally {
      await store.close();
    }
  });
});
