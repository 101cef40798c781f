import { clipPreprocessParams, normalizeImage, preprocessImage, Rng, resizeBicubic } from '@qlip/core';
import { describe, expect, it } from 'vitest';
import {
  augmentImage,
  cropRect,
  flipHorizontal,
  preprocessSampleImage,
  randomResizedCropBox,
} from '../src/index.js';
import { encodeImage, patternPixels } from './helpers.js';

const img8 = () => ({ data: new Uint8Array(patternPixels(8, 6, 1)), width: 8, height: 6 });

describe('cropRect / flipHorizontal', () => {
  it('crop copies exactly the requested rectangle', () => {
    const img = img8();
    const c = cropRect(img, { left: 2, top: 1, width: 3, height: 4 });
    expect([c.width, c.height]).toEqual([3, 4]);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 3; x++) {
        for (let ch = 0; ch < 3; ch++)
          expect(c.data[(y * 3 + x) * 3 + ch]).toBe(img.data[((y + 1) * 8 + x + 2) * 3 + ch]);
      }
    }
    expect(() => cropRect(img, { left: 6, top: 0, width: 3, height: 1 })).toThrow('outside the 8x6 image');
  });

  it('flip mirrors columns and is its own inverse', () => {
    const img = img8();
    const f = flipHorizontal(img);
    for (let y = 0; y < 6; y++) {
      for (let x = 0; x < 8; x++) {
        for (let ch = 0; ch < 3; ch++)
          expect(f.data[(y * 8 + x) * 3 + ch]).toBe(img.data[(y * 8 + 7 - x) * 3 + ch]);
      }
    }
    expect(flipHorizontal(f).data).toEqual(img.data);
  });
});

describe('randomResizedCropBox', () => {
  it('stays inside the image with an area fraction in range', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 200; i++) {
      const b = randomResizedCropBox(64, 48, rng, [0.3, 0.9], [3 / 4, 4 / 3]);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left + b.width).toBeLessThanOrEqual(64);
      expect(b.top + b.height).toBeLessThanOrEqual(48);
      const frac = (b.width * b.height) / (64 * 48);
      expect(frac).toBeGreaterThan(0.25);
      expect(frac).toBeLessThan(0.95);
    }
  });

  it('falls back to the largest centred box when no random box fits', () => {
    // A 100x10 strip cannot hold a ratio <= 4/3 box of area >= 90%: fallback is 13x10 centred.
    expect(randomResizedCropBox(100, 10, new Rng(1), [0.9, 1], [3 / 4, 4 / 3])).toEqual({
      left: 43,
      top: 0,
      width: 13,
      height: 10,
    });
  });
});

describe('augmentImage', () => {
  it('is crop -> PIL bicubic resize -> optional flip, drawn from the rng', () => {
    const img = { data: new Uint8Array(patternPixels(20, 16, 2)), width: 20, height: 16 };
    const opts = {
      scale: [0.4, 0.7] as [number, number],
      ratio: [3 / 4, 4 / 3] as [number, number],
      flip: true,
    };
    let flips = 0;
    for (let seed = 0; seed < 12; seed++) {
      const probe = new Rng(seed);
      const box = randomResizedCropBox(20, 16, probe, opts.scale, opts.ratio);
      const flip = probe.next() < 0.5;
      flips += flip ? 1 : 0;
      const expected = resizeBicubic(cropRect(img, box), 8, 8);
      const out = augmentImage(img, 8, new Rng(seed), opts);
      expect(out.data).toEqual(flip ? flipHorizontal(expected).data : expected.data);
    }
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(12);
  });
});

describe('preprocessSampleImage', () => {
  it('without augmentation equals @qlip/core preprocessImage (CLIP resize + centre crop)', async () => {
    const png = await encodeImage(patternPixels(30, 18, 5), 30, 18);
    const params = clipPreprocessParams(8);
    const expected = await preprocessImage(png, params);
    expect(await preprocessSampleImage(png, 8, false, null)).toEqual(expected);
    // An rng alone does not turn augmentation on.
    expect(await preprocessSampleImage(png, 8, false, new Rng(1))).toEqual(expected);
  });

  it('with augmentation normalises the augmented pixels', async () => {
    const raw = { data: new Uint8Array(patternPixels(12, 12, 3)), width: 12, height: 12 };
    const opts = { scale: [0.5, 0.5] as [number, number], ratio: [1, 1] as [number, number], flip: false };
    const out = await preprocessSampleImage(raw, 6, opts, new Rng(7));
    expect(out).toEqual(normalizeImage(augmentImage(raw, 6, new Rng(7), opts), clipPreprocessParams(6)));
    expect(out.length).toBe(3 * 6 * 6);
  });

  it('names the sample when the bytes or the RGB buffer are bad', async () => {
    await expect(
      preprocessSampleImage(Buffer.from('not an image'), 8, false, null, 'shard.tar (k1)'),
    ).rejects.toThrow('shard.tar (k1)');
    await expect(
      preprocessSampleImage({ data: new Uint8Array(5), width: 2, height: 2 }, 8, false, null, 'x.png'),
    ).rejects.toThrow('x.png: RGB image of 2x2 has 5 bytes, expected 12');
  });
});
