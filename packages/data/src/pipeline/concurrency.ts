/**
 * Order-preserving concurrent map: keeps up to `concurrency` calls of `fn` in flight (sharp decodes on
 * libuv threads, so these really overlap) and yields results in input order. A `null` result is dropped,
 * which is how failed decodes are skipped. Stopping the consumer early stops pulling from `source`.
 */
export async function* mapOrdered<T, U>(
  source: AsyncIterable<T>,
  fn: (item: T) => Promise<U | null>,
  concurrency: number,
): AsyncGenerator<U> {
  const limit = Math.max(1, Math.floor(concurrency));
  const it = source[Symbol.asyncIterator]();
  const queue: Promise<U | null>[] = [];
  let done = false;
  try {
    for (;;) {
      while (!done && queue.length < limit) {
        const r = await it.next();
        if (r.done) done = true;
        else {
          const p = fn(r.value);
          // Rejections are observed when awaited below; avoid an unhandled-rejection warning meanwhile.
          p.catch(() => undefined);
          queue.push(p);
        }
      }
      const head = queue.shift();
      if (head === undefined) return;
      const v = await head;
      if (v !== null) yield v;
    }
  } finally {
    if (!done) await it.return?.();
  }
}

/**
 * Read up to `n` items ahead of the consumer, so producing the next items (decoding, batching) overlaps
 * the consumer's work on the current one. Order is preserved; errors surface at the item that failed.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, n: number): AsyncGenerator<T> {
  if (n <= 0) {
    yield* source;
    return;
  }
  const it = source[Symbol.asyncIterator]();
  const ahead: Promise<IteratorResult<T>>[] = [];
  let ended = false;
  // Each pull chains on the previous one: async generators queue next() calls, but other iterators may not.
  let tail: Promise<unknown> = Promise.resolve();
  const pull = () => {
    const p = tail.then(() => it.next());
    tail = p.catch(() => undefined);
    p.catch(() => undefined);
    ahead.push(p);
  };
  try {
    for (let i = 0; i < n; i++) pull();
    for (;;) {
      const r = await ahead.shift()!;
      if (r.done) {
        ended = true;
        return;
      }
      pull();
      yield r.value;
    }
  } finally {
    if (!ended) {
      await Promise.allSettled(ahead);
      await it.return?.();
    }
  }
}
