import { Rng } from '@qlip/core';
import { describe, expect, it } from 'vitest';
import { batch, deriveSeed, mapOrdered, prefetch, shuffleBuffer, take } from '../src/index.js';
import { collect, sleep } from './helpers.js';

async function* range(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

describe('shuffleBuffer', () => {
  it('emits a permutation, repeatable for a seed, different for another', async () => {
    const a = await collect(shuffleBuffer(range(50), 10, new Rng(1)));
    const b = await collect(shuffleBuffer(range(50), 10, new Rng(1)));
    const c = await collect(shuffleBuffer(range(50), 10, new Rng(2)));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('never emits an item more than `size` places early', async () => {
    const out = await collect(shuffleBuffer(range(200), 8, new Rng(3)));
    // Item v enters the buffer when it is read, so it cannot leave before output position v - size.
    for (const [pos, v] of out.entries()) expect(pos).toBeGreaterThanOrEqual(v - 8);
  });

  it('passes items through unchanged with size <= 1', async () => {
    expect(await collect(shuffleBuffer(range(5), 1, new Rng(0)))).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('mapOrdered', () => {
  it('keeps input order under random delays, drops nulls, runs calls concurrently', async () => {
    let inFlight = 0;
    let peak = 0;
    const rng = new Rng(5);
    const delays = Array.from({ length: 20 }, () => rng.int(15));
    const out = await collect(
      mapOrdered(
        range(20),
        async (i) => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          await sleep(delays[i]!);
          inFlight--;
          return i % 5 === 4 ? null : i * 10;
        },
        4,
      ),
    );
    expect(out).toEqual([0, 10, 20, 30, 50, 60, 70, 80, 100, 110, 120, 130, 150, 160, 170, 180]);
    expect(peak).toBe(4);
  });

  it('propagates an error thrown by the mapped function', async () => {
    const it = mapOrdered(
      range(5),
      async (i) => {
        if (i === 2) throw new Error('boom at 2');
        return i;
      },
      2,
    );
    await expect(collect(it)).rejects.toThrow('boom at 2');
  });
});

describe('prefetch', () => {
  it('does not reorder items that finish out of order', async () => {
    const rng = new Rng(9);
    async function* slow(): AsyncGenerator<number> {
      for (let i = 0; i < 15; i++) {
        await sleep(rng.int(6));
        yield i;
      }
    }
    expect(await collect(prefetch(slow(), 4))).toEqual(Array.from({ length: 15 }, (_, i) => i));
  });

  it('reads ahead of the consumer, and stops pulling when the consumer stops', async () => {
    let produced = 0;
    let finalised = false;
    async function* src(): AsyncGenerator<number> {
      try {
        for (let i = 0; i < 100; i++) {
          produced++;
          yield i;
        }
      } finally {
        finalised = true;
      }
    }
    const it = prefetch(src(), 3);
    const first = await it.next();
    expect(first.value).toBe(0);
    await sleep(5);
    expect(produced).toBe(4); // item 0 plus 3 ahead
    await it.return(undefined);
    expect(finalised).toBe(true);
    expect(produced).toBeLessThan(10);
  });
});

describe('batch / take / deriveSeed', () => {
  it('groups with and without the short last batch', async () => {
    expect(await collect(batch(range(7), 3))).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(await collect(batch(range(7), 3, true))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    await expect(collect(batch(range(2), 0))).rejects.toThrow('positive integer');
    expect(await collect(take(range(100), 3))).toEqual([0, 1, 2]);
  });

  it('separates (epoch, index) pairs that a plain xor would merge', () => {
    expect(deriveSeed(7, 3, 0, 1)).not.toBe(deriveSeed(7, 3, 1, 0));
    expect(deriveSeed(7, 3, 0, 1)).toBe(deriveSeed(7, 3, 0, 1));
    const seeds = new Set<number>();
    for (let e = 0; e < 20; e++) for (let i = 0; i < 200; i++) seeds.add(deriveSeed(1, 3, e, i));
    expect(seeds.size).toBe(4000);
  });
});
