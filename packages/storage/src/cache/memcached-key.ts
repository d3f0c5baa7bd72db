import { createHash } from 'node:crypto';
import { assertCacheKey } from './cache-arguments.js';

/** memcached's longest key, in bytes. */
export const MEMCACHED_MAX_KEY_BYTES = 250;

/** Prefix of mapped keys; a caller key that starts with it is mapped too, so none collide. */
export const MAPPED_KEY_PREFIX = 'sc~';

/**
 * The key memcached stores for a caller's `key`. A key of at most 250 bytes of printable
 * ASCII without spaces passes unchanged; any other key (longer, spaces, control characters,
 * non-ASCII, or starting with `sc~`) becomes `sc~` followed by its SHA-256 in base64url.
 * Distinct caller keys therefore never share a memcached key (barring a SHA-256 collision).
 */
export function toMemcachedKey(key: string): string {
  // Checking the characters also validates the key: printable ASCII is always well formed.
  if (isPlainKey(key)) return key;
  assertCacheKey(key);
  return MAPPED_KEY_PREFIX + createHash('sha256').update(key, 'utf8').digest('base64url');
}

/** Whether `key` is a string memcached takes as it is (and that cannot look mapped). */
function isPlainKey(key: unknown): boolean {
  if (typeof key !== 'string') return false;
  const length = key.length;
  if (length === 0 || length > MEMCACHED_MAX_KEY_BYTES) return false;
  for (let i = 0; i < length; i++) {
    const code = key.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return false;
  }
  return !key.startsWith(MAPPED_KEY_PREFIX);
}
