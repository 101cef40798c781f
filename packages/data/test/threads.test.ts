import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDataset,
  type DataConfigInput,
  PreprocessPool,
  preprocessSampleImage,
  type SkipEvent,
} from '../src/index.js';
import { collect, encodeImage, patternPixels, tempDir, writeImage } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  for (let i = 0; i < 12; i++) {
    await writeImage(path.join(dir, `i${String(i).padStart(2, '0')}.png`), i, 20, 14);
    await writeFile(path.join(dir, `i${String(i).padStart(2, '0')}.txt`), `c${i}`);
  }
  await writeFile(path.join(dir, 'broken.png'), 'not a png');
  await writeFile(path.join(dir, 'broken.txt'), 'broken');
});
afterAll(async () => cleanup());

describe('worker-thread preprocessing', () => {
  it('gives the same batches (augmented) and the same corrupt reports as the main thread', async () => {
    const cfg: DataConfigInput = {
      source: { kind: 'folder', path: dir },
      imageSize: 8,
      batchSize: 4,
      epochs: 2,
      seed: 4,
    };
    const events: SkipEvent[] = [];
    const main = await collect((await createDataset(cfg)).batches());
    const threaded = await createDataset({ ...cfg, threads: 2 }, { onSkip: (e) => events.push(e) });
    const viaThreads = await collect(threaded.batches());
    expect(viaThreads.map((b) => b.keys)).toEqual(main.map((b) => b.keys));
    for (const [i, b] of viaThreads.entries()) expect(b.images).toEqual(main[i]!.images);
    expect(events.map((e) => [e.key, e.reason])).toEqual([
      ['broken.png', 'corrupt'],
      ['broken.png', 'corrupt'],
    ]);
    expect(events[0]!.detail).toContain('broken.png');
    expect(threaded.stats.yielded).toBe(24);
  });

  it('handles decoded RGB inputs (MNIST views into a large buffer) and stops cleanly mid-stream', async () => {
    const cfg: DataConfigInput = {
      source: { kind: 'builtin', name: 'mnist', split: 'test', limit: 64 },
      imageSize: 16,
      batchSize: 8,
      augment: false,
      shuffle: false,
    };
    const main = await collect((await createDataset(cfg)).batches(), 2);
    const threaded = await collect((await createDataset({ ...cfg, threads: 1 })).batches(), 2);
    expect(threaded.map((b) => b.keys)).toEqual(main.map((b) => b.keys));
    for (const [i, b] of threaded.entries()) expect(b.images).toEqual(main[i]!.images);
  });

  it('a pool job returns the same pixels as the in-thread function; closed pools refuse work', async () => {
    const png = await encodeImage(patternPixels(9, 9, 1), 9, 9);
    const pool = new PreprocessPool(1);
    try {
      const out = await pool.run({ input: png, size: 4, augment: false, augmentSeed: null, name: 'x.png' });
      expect(out).toEqual(await preprocessSampleImage(png, 4, false, null));
      await expect(
        pool.run({ input: Buffer.from('zz'), size: 4, augment: false, augmentSeed: null, name: 'bad.png' }),
      ).rejects.toThrow('bad.png');
    } finally {
      await pool.close();
    }
    await expect(
      pool.run({ input: png, size: 4, augment: false, augmentSeed: null, name: 'x.png' }),
    ).rejects.toThrow('already closed');
  });
});
