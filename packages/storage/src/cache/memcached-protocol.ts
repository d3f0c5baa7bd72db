// Request building and response reading for the memcached binary protocol
// (https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped): the parts memjs does
// not offer, i.e. CAS on requests and responses, 64-bit counters, "do not create" counters.
// Requests are laid out here in one buffer each (memjs's builder allocates and zero-fills
// four: header, key, extras, request) and travel through memjs's connection handling like
// its own calls. Internal to MemcachedCacheStore.

/** Binary-protocol opcodes used by `MemcachedCacheStore`. */
export const Opcode = {
  get: 0x00,
  set: 0x01,
  add: 0x02,
  delete: 0x04,
  increment: 0x05,
  decrement: 0x06,
} as const;

/** Binary-protocol response statuses `MemcachedCacheStore` tells apart. */
export const Status = {
  ok: 0x0000,
  keyNotFound: 0x0001,
  keyExists: 0x0002,
  valueTooLarge: 0x0003,
  itemNotStored: 0x0005,
  nonNumeric: 0x0006,
} as const;

/** Longest TTL memcached takes as relative seconds; longer ones must be absolute unix times. */
export const MAX_RELATIVE_TTL_SECONDS = 60 * 60 * 24 * 30;

/** Expiration field meaning "do not create a missing counter" on increment/decrement. */
export const NO_CREATE_EXPIRATION = 0xffff_ffff;

/** Largest absolute expiration sent (2106-02-07); later ones are capped here, i.e. never. */
const MAX_ABSOLUTE_EXPIRATION = 0xffff_fffe;

const UINT64_MODULUS = 1n << 64n;
const MAX_UINT64 = UINT64_MODULUS - 1n;

/** A response as memjs parses it: the 24-byte header's fields plus the body parts. */
export interface MemcachedResponse {
  /** Decoded header; `cas` is the raw 8 bytes. */
  readonly header: { readonly status: number; readonly cas: Buffer };
  /** Extras part of the body (flags on a get). */
  readonly extras: Buffer;
  /** Value part of the body (the stored bytes, or an 8-byte counter, or an error text). */
  readonly val: Buffer;
}

/**
 * The expiration field for a TTL in seconds: `0` (never) when absent or zero, the TTL itself
 * up to 30 days, and an absolute unix time above that, as memcached requires.
 *
 * @param ttlSeconds - validated TTL in whole seconds
 * @param nowMs - current time in milliseconds since the epoch; the clock's when absent
 */
export function toExpiration(ttlSeconds: number | undefined, nowMs?: number): number {
  if (ttlSeconds === undefined || ttlSeconds === 0) return 0;
  if (ttlSeconds <= MAX_RELATIVE_TTL_SECONDS) return ttlSeconds;
  // The clock is read only here: the hot path's TTLs are relative.
  const now = nowMs ?? Date.now();
  return Math.min(Math.floor(now / 1000) + ttlSeconds, MAX_ABSOLUTE_EXPIRATION);
}

const HEADER_BYTES = 24;
const REQUEST_MAGIC = 0x80;
const TWO_TO_32 = 2 ** 32;
/** Largest high word of a 64-bit counter whose value is still a safe integer. */
const MAX_SAFE_HIGH_WORD = Math.floor(Number.MAX_SAFE_INTEGER / TWO_TO_32);

/**
 * Allocates a request of `bodyBytes` after the header and writes the header: magic, opcode,
 * key and extras lengths, body length, opaque; data type, vbucket and CAS zero. The key is
 * written after `extrasBytes` of extras. `key` must be a mapped memcached key (printable
 * ASCII, see `toMemcachedKey`), so its length is its byte length.
 */
function startRequest(
  opcode: number,
  key: string,
  extrasBytes: number,
  valueBytes: number,
  opaque: number,
): Buffer {
  const bodyBytes = extrasBytes + key.length + valueBytes;
  // Every byte is written below: no need to zero-fill.
  const request = Buffer.allocUnsafe(HEADER_BYTES + bodyBytes);
  request[0] = REQUEST_MAGIC;
  request[1] = opcode;
  request.writeUInt16BE(key.length, 2);
  request[4] = extrasBytes;
  request[5] = 0; // data type
  request.writeUInt16BE(0, 6); // vbucket
  request.writeUInt32BE(bodyBytes, 8);
  request.writeUInt32BE(opaque >>> 0, 12);
  request.writeUInt32BE(0, 16); // CAS
  request.writeUInt32BE(0, 20);
  request.write(key, HEADER_BYTES + extrasBytes, 'latin1');
  return request;
}

/**
 * A request with `extras` and `value`, and `cas` (non-zero: "only if the entry still has
 * this CAS") in header bytes 16..23. `key` must be a mapped memcached key.
 */
export function buildRequest(
  opcode: number,
  key: string,
  extras: Buffer,
  value: Buffer,
  opaque: number,
  cas?: bigint,
): Buffer {
  const request = startRequest(opcode, key, extras.length, value.length, opaque);
  extras.copy(request, HEADER_BYTES);
  value.copy(request, HEADER_BYTES + extras.length + key.length);
  if (cas !== undefined) request.writeBigUInt64BE(cas, 16);
  return request;
}

/**
 * An increment/decrement request for safe-integer `delta` and `initial`, its extras written
 * in place (no intermediate buffer, no BigInt): the hot path of counters.
 */
export function buildCounterRequest(
  opcode: number,
  key: string,
  delta: number,
  initial: number,
  expiration: number,
  opaque: number,
): Buffer {
  const request = startRequest(opcode, key, 20, 0, opaque);
  writeUint64(request, delta, HEADER_BYTES);
  writeUint64(request, initial, HEADER_BYTES + 8);
  request.writeUInt32BE(expiration, HEADER_BYTES + 16);
  return request;
}

/** Writes a non-negative safe integer as a big-endian 64-bit unsigned value. */
function writeUint64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32BE(Math.floor(value / TWO_TO_32), offset);
  buffer.writeUInt32BE(value % TWO_TO_32, offset + 4);
}

/**
 * The counter value of an increment/decrement response as a number, or `undefined` when it
 * is past `Number.MAX_SAFE_INTEGER` (read it with {@link readCounter} then).
 */
export function readSafeCounter(response: MemcachedResponse): number | undefined {
  if (response.val.length < 8) {
    throw new Error(`counter response has ${response.val.length} value bytes, expected 8`);
  }
  const high = response.val.readUInt32BE(0);
  if (high > MAX_SAFE_HIGH_WORD) return undefined;
  return high * TWO_TO_32 + response.val.readUInt32BE(4);
}

/** Extras of set/add: 4 bytes of flags (always 0) and the 4-byte expiration. */
export function storageExtras(expiration: number): Buffer {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(expiration, 4);
  return extras;
}

/**
 * Extras of increment/decrement: 8-byte delta, 8-byte initial value (stored as it is when the
 * key is missing), 4-byte expiration ({@link NO_CREATE_EXPIRATION}: leave a missing key missing).
 */
export function counterExtras(delta: bigint, initial: bigint, expiration: number): Buffer {
  const extras = Buffer.alloc(20);
  extras.writeBigUInt64BE(delta, 0);
  extras.writeBigUInt64BE(initial, 8);
  extras.writeUInt32BE(expiration, 16);
  return extras;
}

/** The delta that undoes an increment by `delta`: memcached's increment wraps modulo 2^64. */
export function incrementInverse(delta: bigint): bigint {
  return (UINT64_MODULUS - delta) % UINT64_MODULUS;
}

/** The 64-bit unsigned counter value of an increment/decrement response. */
export function readCounter(response: MemcachedResponse): bigint {
  if (response.val.length < 8) {
    throw new Error(`counter response has ${response.val.length} value bytes, expected 8`);
  }
  return response.val.readBigUInt64BE(0);
}

/** The CAS value of a response header. */
export function readCas(response: MemcachedResponse): bigint {
  return response.header.cas.length >= 8 ? response.header.cas.readBigUInt64BE(0) : 0n;
}

/** Parses a CAS token's text; `undefined` when it cannot name any version (not 1..2^64-1). */
export function parseCas(token: string): bigint | undefined {
  if (!/^[1-9][0-9]{0,19}$/.test(token)) return undefined;
  const cas = BigInt(token);
  return cas <= MAX_UINT64 ? cas : undefined;
}
