/**
 * Sets `key` in `map` as its newest entry and drops the oldest entries beyond `max` (Map order is insertion
 * order): the cap of the process's small caches. A key set again moves to the end, so a cache whose reads
 * also call this keeps the most recently used entries.
 *
 * @example
 * const cache = new Map<string, Buffer>();
 * setBounded(cache, secret, keyOf(secret), 1000);
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value as K);
}
