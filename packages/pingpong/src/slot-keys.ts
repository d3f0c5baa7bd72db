/** Which way a slot counts: increments (`up`) and decrements (`down`) live in separate slots. */
export type SlotDirection = 'up' | 'down';

/**
 * The memcache key of a counter's slot for one epoch and direction:
 * `<namespace>:<name>:<epoch>` for increments and `<namespace>:<name>:<epoch>:neg` for
 * decrements. The epoch (and the `neg` marker) come last and are never part of a name's
 * tail in the same position, so two counters never share a key even when names contain
 * colons. Keys longer than memcached allows are mapped (hashed) by the cache adapter.
 */
export function slotKey(
  namespace: string,
  name: string,
  epoch: number,
  direction: SlotDirection,
): string {
  const base = `${namespace}:${name}:${epoch}`;
  return direction === 'up' ? base : `${base}:neg`;
}
