/** Group items into arrays of `size`; the last, shorter group is kept unless `dropLast`. */
export async function* batch<T>(
  source: AsyncIterable<T>,
  size: number,
  dropLast = false,
): AsyncGenerator<T[]> {
  if (!(Number.isInteger(size) && size > 0))
    throw new Error(`batch: size must be a positive integer, got ${size}`);
  let cur: T[] = [];
  for await (const item of source) {
    cur.push(item);
    if (cur.length === size) {
      yield cur;
      cur = [];
    }
  }
  if (cur.length > 0 && !dropLast) yield cur;
}

/** Take the first `n` items. */
export async function* take<T>(source: AsyncIterable<T>, n: number): AsyncGenerator<T> {
  if (n <= 0) return;
  let i = 0;
  for await (const item of source) {
    yield item;
    if (++i >= n) return;
  }
}
