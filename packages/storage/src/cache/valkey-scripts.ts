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
 * {@link COUNT_OUT_OF_RANGE} (nothing changed; also when the stored value itself is past
 * `Number.MAX_SAFE_INTEGER`). `decr` floors at 0. The key keeps its TTL. A stored value
 * counts as an integer when it is canonical decimal digits (`0`, or no leading zero), as
 * this store writes them.
 *
 * The arithmetic is the server's exact 64-bit `HINCRBY` (a stored value has at most 16
 * digits and a delta is below 2^53, so it cannot overflow); a sum past 2^53 - 1 is taken
 * back at once, inside the script, so no one ever sees it. Lua compares the integer reply
 * as a double, exact up to 2^53, and any sum past 2^53 - 1 stays past it when rounded.
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
if stored ~= '0' and not string.match(stored, '^[1-9]%d*$') then return -1 end
local digits = #stored
if digits > 16 or (digits == 16 and stored > '9007199254740991') then return -2 end
local delta = ARGV[1]
local value
if delta == '0' then
  value = tonumber(stored)
elseif ARGV[2] == 'incr' then
  value = redis.call('HINCRBY', key, 'v', delta)
  if value > 9007199254740991 then
    redis.call('HINCRBY', key, 'v', '-' .. delta)
    return -2
  end
elseif tonumber(stored) <= tonumber(delta) then
  value = 0
  redis.call('HSET', key, 'v', '0')
else
  value = redis.call('HINCRBY', key, 'v', '-' .. delta)
end
redis.call('HSET', key, 'c', ARGV[5])
return value`);
