import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIP_MEAN,
  CLIP_STD,
  clipPreprocessParams,
  decodeImage,
  denormalizeImages,
  encodePng,
  imageGrid,
  normalizeImage,
  type RgbImage,
  Rng,
  selectBackend,
  sideBySide,
  writePng,
} from '../src/index.js';

function randomImage(rng: Rng, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.next() * 256);
  return { width, height, data };
}

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, p * 3);
  return { width, height, data };
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [...img.data.subarray(i, i + 3)];
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qlip-image-encode-'));
  await selectBackend('cpu');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('denormalise -> PNG', () => {
  it('normalise -> denormalise -> PNG -> decode returns the same uint8 pixels (all 256 levels)', async () => {
    const rng = new Rng(7);
    const img = randomImage(rng, 16, 16); // 768 samples: every level appears with high probability
    for (let v = 0; v < 256; v++) img.data[v * 3] = v; // and certainly in the red channel
    const chw = normalizeImage(img, clipPreprocessParams(16)); // [3, 16, 16]
    const [back] = denormalizeImages(chw, [3, 16, 16]);
    expect([...back!.data]).toEqual([...img.data]);
    const decoded = await decodeImage(await encodePng(back!), { name: 'roundtrip.png' });
    expect([...decoded.data]).toEqual([...img.data]);
  });

  it('batches [B, 3, H, W] in order', () => {
    const rng = new Rng(3);
    const imgs = [randomImage(rng, 5, 4), randomImage(rng, 5, 4)];
    const per = 3 * 4 * 5;
    const data = new Float32Array(2 * per);
    for (const [b, im] of imgs.entries()) normalizeImage(im, clipPreprocessParams(4), data, b * per);
    const out = denormalizeImages(data, [2, 3, 4, 5]);
    expect(out.map((o) => [o.width, o.height])).toEqual([
      [5, 4],
      [5, 4],
    ]);
    expect([...out[0]!.data]).toEqual([...imgs[0]!.data]);
    expect([...out[1]!.data]).toEqual([...imgs[1]!.data]);
  });

  it('clamps out-of-range values, maps NaN to 0, rounds to the nearest level', () => {
    // Values chosen in [0, 1] pixel space, then normalised by hand, as a [3, 1, 7] image.
    const px = [-0.2, 1.7, Number.NaN, 0.52 / 255, 0.48 / 255, 254.48 / 255, 254.52 / 255];
    const data = new Float32Array(21);
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < 7; i++) data[c * 7 + i] = (px[i]! - CLIP_MEAN[c]!) / CLIP_STD[c]!;
    const [img] = denormalizeImages(data, [3, 1, 7]);
    for (let c = 0; c < 3; c++) {
      expect([0, 1, 2, 3, 4, 5, 6].map((x) => pixel(img!, x, 0)[c])).toEqual([0, 255, 0, 1, 0, 254, 255]);
    }
  });

  it('rejects wrong shapes and sizes', () => {
    expect(() => denormalizeImages(new Float32Array(12), [4, 1, 3])).toThrow(
      /\[3, H, W\] or \[B, 3, H, W\], got \[4, 1, 3\]/,
    );
    expect(() => denormalizeImages(new Float32Array(10), [3, 2, 2])).toThrow(/needs 12 values, got 10/);
  });

  it('writePng creates folders and leaves no temporary file', async () => {
    const path = join(dir, 'nested', 'deeper', 'out.png');
    const img = solid(3, 2, [1, 2, 3]);
    await writePng(path, img);
    expect(await readdir(join(dir, 'nested', 'deeper'))).toEqual(['out.png']);
    const meta = await sharp(path).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 3, 2]);
    expect([...(await decodeImage(path)).data]).toEqual([...img.data]);
  });

  it('encodePng rejects a buffer of the wrong size', async () => {
    await expect(encodePng({ width: 2, height: 2, data: new Uint8Array(3) })).rejects.toThrow(
      /2x2 has 3 bytes, expected 12/,
    );
  });
});

describe('grids', () => {
  it('side by side: widths add up with one gap, images at their offsets, gap is background', () => {
    const a = solid(3, 2, [255, 0, 0]);
    const b = solid(2, 2, [0, 0, 255]);
    const g = sideBySide([a, b], { gap: 1, background: [9, 9, 9] });
    expect([g.width, g.height]).toEqual([6, 2]);
    expect([0, 1, 2, 3, 4, 5].map((x) => pixel(g, x, 1))).toEqual([
      [255, 0, 0],
      [255, 0, 0],
      [255, 0, 0],
      [9, 9, 9],
      [0, 0, 255],
      [0, 0, 255],
    ]);
  });

  it('rows x columns: cells sized by the largest image, smaller ones centred, default gap 4 on white', () => {
    const big = solid(4, 4, [0, 0, 0]);
    const small = solid(2, 2, [0, 255, 0]);
    const g = imageGrid([
      [big, small],
      [small, big],
    ]);
    expect([g.width, g.height]).toEqual([4 + 4 + 4, 4 + 4 + 4]);
    expect(pixel(g, 0, 0)).toEqual([0, 0, 0]);
    expect(pixel(g, 5, 5)).toEqual([255, 255, 255]); // gap column
    expect(pixel(g, 8, 0)).toEqual([255, 255, 255]); // margin of the centred small image
    expect(pixel(g, 9, 1)).toEqual([0, 255, 0]); // small image starts at (8 + 1, 0 + 1)
    expect(pixel(g, 10, 2)).toEqual([0, 255, 0]);
    expect(pixel(g, 11, 3)).toEqual([255, 255, 255]);
    expect(pixel(g, 1, 9)).toEqual([0, 255, 0]);
    expect(pixel(g, 11, 11)).toEqual([0, 0, 0]);
  });

  it('ragged rows leave empty cells as background; no images is an error', () => {
    const g = imageGrid([[solid(2, 2, [1, 1, 1]), solid(2, 2, [2, 2, 2])], [solid(2, 2, [3, 3, 3])]], {
      gap: 0,
    });
    expect([g.width, g.height]).toEqual([4, 4]);
    expect(pixel(g, 3, 3)).toEqual([255, 255, 255]);
    expect(pixel(g, 0, 3)).toEqual([3, 3, 3]);
    expect(() => imageGrid([])).toThrow(/no images/);
  });
});
