/** Number of hash slots a Valkey cluster divides its keys into. */
export const VALKEY_CLUSTER_SLOTS = 16384;

const CRC16_TABLE = buildCrc16Table();

/** CRC16-CCITT (XMODEM) lookup table, the checksum the cluster specification uses. */
function buildCrc16Table(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[byte] = crc;
  }
  return table;
}

/**
 * The cluster hash slot of a key, as Valkey computes it: CRC16 of the key's UTF-8 bytes
 * modulo 16384, or of its hash tag only (the text between the first `{` and the next `}`,
 * when not empty), so that keys sharing a tag share a slot.
 */
export function valkeyKeySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // '{'
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  }
  return crc % VALKEY_CLUSTER_SLOTS;
}
