import memjs from 'memjs';

// Request building and response reading for the memcached binary protocol
// (https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped): the parts memjs does
// not offer, i.e. CAS on requests and responses, 64-bit counters, "do not create" counters.
// Requests are built with memjs's own `Utils.makeRequestBuffer`, so they travel through
// memjs's connection handling like its own calls. Internal to MemcachedCacheStore.

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
 * @param nowMs - current time in milliseconds since the epoch
 */
export function toExpiration(ttlSeconds: number | undefined, nowMs: number = Date.now()): number {
  if (ttlSeconds === undefined || ttlSeconds === 0) return 0;
  if (ttlSeconds <= MAX_RELATIVE_TTL_SECONDS) return ttlSeconds;
  return Math.min(Math.floor(nowMs / 1000) + ttlSeconds, MAX_ABSOLUTE_EXPIRATION);
}

/**
 * Builds a request with memjs's request builder, then writes `cas` (non-zero: "only if the
 * entry still has this CAS") into header bytes 16..23, which memjs always leaves zero.
 */
export function buildRequest(
  opcode: number,
  key: string,
  extras: Buffer,
  value: Buffer,
  opaque: number,
  cas?: bigint,
): Buffer {
  const request = memjs.Utils.makeRequestBuffer(opcode, key, extras, value, opaque);
  if (cas !== undefined) request.writeBigUInt64BE(cas, 16);
  return request;
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
