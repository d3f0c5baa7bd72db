/**
 * Runs `task` over `items` with at most `limit` running at once, so a flush of many
 * counters does not open hundreds of transactions together. Resolves when all are done;
 * `task` handles its own errors.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
