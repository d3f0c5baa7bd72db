import { createHash } from 'node:crypto';

/**
 * The server-side scripts of `ValkeyCacheStore`. Every entry is a hash with two fields:
 * `v`, the value as JSON text (an integer as its decimal digits), and `c`, the version the
 * last write gave it (a token unique to that write, sent by the client). A script reads and
 * writes one key only, so each runs atomically on the one node that owns the key's slot,
 * standalone or cluster.
 */

/** A Lua script and its SHA-1, for EVALSHA with an EVAL fallback. */
export interface ValkeyScript {
  /** The script's source. */
  readonly lua: string;
  /** SHA-1 of the source, the name EVALSHA knows it by. */
  readonly sha: string;
}

function script(lua: string): ValkeyScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * Writes a value: `KEYS[1]` the key; `ARGV[1]` the JSON text, `ARGV[2]` the TTL in seconds
 * (`0`: none), `ARGV[3]` the new version, `ARGV[4]` the mode (`set`, `add`, `cas`),
 * `ARGV[5]` the version a `cas` expects. Returns 1 when written, 0 when `add` found the key
 * or `cas` found another version (or none). The key is replaced whole, so an old TTL and
 * whatever another client left under the key go with it.
 */
export const WRITE_SCRIPT = script(`local key = KEYS[1]
local mode = ARGV[4]
if mode == 'add' then
  if redis.call('EXISTS', key) == 1 then return 0 end
elseif mode == 'cas' then
  if redis.call('TYPE', key).ok ~= 'hash' then return 0 end
  if redis.call('HGET', key, 'c') ~= ARGV[5] then return 0 end
end
redis.call('DEL', key)
redis.call('HSET', key, 'v', ARGV[1], 'c', ARGV[3])
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('EXPIRE', key, ttl) end
return 1`);

/** What {@link COUNT_SCRIPT} returns when the stored value is not a non-negative integer. */
export const COUNT_NOT_NUMERIC = -1;
/** What {@link COUNT_SCRIPT} returns when the result would pass `Number.MAX_SAFE_INTEGER`. */
export const COUNT_OUT_OF_RANGE = -2;
/** {@link COUNT_SCRIPT}'s `ARGV[3]` when no counter may be created. */
export const COUNT_NO_CREATE = '';
/** {@link COUNT_SCRIPT}'s `ARGV[3]` when `initial ± delta` is not a safe integer. */
export const COUNT_CREATE_OUT_OF_RANGE = 'x';

/**
 * Adds to or subtracts from a counter, memcached's way: `KEYS[1]` the key; `ARGV[1]` the
 * delta, `ARGV[2]` `incr` or `decr`, `ARGV[3]` what a missing key is created holding
 * ({@link COUNT_NO_CREATE}: nothing, {@link COUNT_CREATE_OUT_OF_RANGE}: refuse), `ARGV[4]`
 * the TTL of a created key in seconds, `ARGV[5]` the new version. Returns the new value,
 * `nil` for a missing key that is not created, {@link COUNT_NOT_NUMERIC} or
 * {@link COUNT_OUT_OF_RANGE} (nothing written; also when the stored value itself is past
 * `Number.MAX_SAFE_INTEGER`). `decr` floors at 0. The key keeps its TTL.
 *
 * Lua numbers are doubles: exact for every operand here (both at most 2^53 - 1), and a sum
 * past 2^53 - 1 never rounds back below it, so the range check is exact too.
 */
export const COUNT_SCRIPT = script(`local key = KEYS[1]
local stored = redis.call('HGET', key, 'v')
if stored == false then
  local created = ARGV[3]
  if created == '' then return nil end
  if created == 'x' then return -2 end
  redis.call('HSET', key, 'v', created, 'c', ARGV[5])
  local ttl = tonumber(ARGV[4])
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  return tonumber(created)
end
if not string.match(stored, '^%d+$') then return -1 end
local value = tonumber(stored)
if #stored > 16 or value > 9007199254740991 then return -2 end
local delta = tonumber(ARGV[1])
if ARGV[2] == 'incr' then
  value = value + delta
  if value > 9007199254740991 then return -2 end
else
  value = value - delta
  if value < 0 then value = 0 end
end
redis.call('HSET', key, 'v', string.format('%.0f', value), 'c', ARGV[5])
return value`);
