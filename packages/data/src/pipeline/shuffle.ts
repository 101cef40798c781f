import type { Rng } from '@qlip/core';

/**
 * Streaming shuffle (WebDataset / tf.data style): fill a buffer of `size` items, then for every new item
 * emit a random buffered one and put the new one in its place; drain in random order at the end.
 * With `size` >= the stream length this is a full uniform shuffle; `size` <= 1 passes items through.
 */
export async function* shuffleBuffer<T>(source: AsyncIterable<T>, size: number, rng: Rng): AsyncGenerator<T> {
  if (size <= 1) {
    yield* source;
    return;
  }
  const buf: T[] = [];
  for await (const item of source) {
    if (buf.length < size) {
      buf.push(item);
      continue;
    }
    const j = rng.int(size);
    const out = buf[j]!;
    buf[j] = item;
    yield out;
  }
  rng.shuffle(buf);
  yield* buf;
}
