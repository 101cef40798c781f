import { Rng } from '@qlip/core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  augmentImage,
  CLIP_MEAN,
  CLIP_STD,
  centreCropGeometry,
  decodeRgb,
  normaliseClip,
  randomResizedCropBox,
  resizeCentreCrop,
} from '../src/index.js';
import { encodeImage, patternPixels } from './helpers.js';

describe('centreCropGeometry (torchvision Resize(S) + CenterCrop(S))', () => {
  it('resizes the shorter side to S and centres the crop', () => {
    expect(centreCropGeometry(300, 200, 100)).toEqual({
      resizeWidth: 150,
      resizeHeight: 100,
      crop: { left: 25, top: 0, width: 100, height: 100 },
    });
    expect(centreCropGeometry(200, 300, 100)).toEqual({
      resizeWidth: 100,
      resizeHeight: 150,
      crop: { left: 0, top: 25, width: 100, height: 100 },
    });
  });

  it('truncates the long side and rounds the offset half to even like Python', () => {
    // 333x200 -> long side int(100 * 333 / 200) = 166; offset round(33) = 33.
    expect(centreCropGeometry(333, 200, 100).resizeWidth).toBe(166);
    expect(centreCropGeometry(333, 200, 100).crop.left).toBe(33);
    // 101 wide after resize: offset round(0.5) = 0; 103 wide: round(1.5) = 2.
    expect(centreCropGeometry(101, 100, 100).crop.left).toBe(0);
    expect(centreCropGeometry(103, 100, 100).crop.left).toBe(2);
  });
});

describe('decodeRgb', () => {
  it('expands greyscale to three equal channels', async () => {
    const grey = Buffer.from([0, 64, 128, 255]);
    const png = await encodeImage(grey, 2, 2, 'png', 1);
    const img = await decodeRgb(png);
    expect([img.width, img.height]).toEqual([2, 2]);
    expect([...img.data]).toEqual([0, 0, 0, 64, 64, 64, 128, 128, 128, 255, 255, 255]);
  });

  it('composites transparency onto white', async () => {
    const rgba = Buffer.from([255, 0, 0, 255, 0, 0, 255, 0]); // opaque red, fully transparent blue
    const img = await decodeRgb(await encodeImage(rgba, 2, 1, 'png', 4));
    expect([...img.data]).toEqual([255, 0, 0, 255, 255, 255]);
  });

  it('rejects bytes that are not an image and RGB buffers of the wrong length', async () => {
    await expect(decodeRgb(Buffer.from('definitely not a png'))).rejects.toThrow();
    await expect(decodeRgb({ data: new Uint8Array(5), width: 2, height: 2 }, 'x.png')).rejects.toThrow(
      'x.png: RGB image of 2x2 has 5 bytes, expected 12',
    );
  });
});

describe('normaliseClip', () => {
  it('maps uint8 HWC to CLIP-normalised CHW', () => {
    const img = { data: new Uint8Array([0, 128, 255, 255, 255, 255]), width: 2, height: 1 };
    const out = normaliseClip(img);
    expect(out.length).toBe(6);
    const expected = [
      (0 / 255 - CLIP_MEAN[0]) / CLIP_STD[0],
      (255 / 255 - CLIP_MEAN[0]) / CLIP_STD[0],
      (128 / 255 - CLIP_MEAN[1]) / CLIP_STD[1],
      (255 / 255 - CLIP_MEAN[1]) / CLIP_STD[1],
      (255 / 255 - CLIP_MEAN[2]) / CLIP_STD[2],
      (255 / 255 - CLIP_MEAN[2]) / CLIP_STD[2],
    ];
    for (const [i, v] of out.entries()) expect(v).toBeCloseTo(expected[i]!, 5);
  });
});

describe('resizeCentreCrop', () => {
  it('keeps the centre of a wide image (left and right bands are cut away)', async () => {
    // 12x4: columns 0-3 red, 4-7 green, 8-11 blue; S=4 -> no resize, keep columns 4-7 (all green).
    const px = Buffer.alloc(12 * 4 * 3);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 12; x++) px[(y * 12 + x) * 3 + Math.floor(x / 4)] = 255;
    const out = await resizeCentreCrop({ data: px, width: 12, height: 4 }, 4);
    expect([out.width, out.height]).toEqual([4, 4]);
    for (let p = 0; p < 16; p++)
      expect([out.data[p * 3], out.data[p * 3 + 1], out.data[p * 3 + 2]]).toEqual([0, 255, 0]);
  });

  it('matches sharp bicubic resize of the whole image when no crop is needed', async () => {
    const px = patternPixels(16, 16, 3);
    const out = await resizeCentreCrop({ data: px, width: 16, height: 16 }, 8);
    const ref = await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
      .resize(8, 8, { kernel: 'cubic' })
      .raw()
      .toBuffer();
    expect(Buffer.from(out.data)).toEqual(ref);
  });
});

describe('augmentation', () => {
  it('random resized crop boxes stay inside the image with an area fraction in range', () => {
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

  it('full-scale crop with flip mirrors the image', async () => {
    const px = patternPixels(8, 8, 1);
    const img = { data: px, width: 8, height: 8 };
    // scale [1, 1] and ratio [1, 1] force the whole image; find a seed that flips.
    let flipped = null;
    let straight = null;
    for (let seed = 0; seed < 20 && (flipped === null || straight === null); seed++) {
      const rng = new Rng(seed);
      const probe = new Rng(seed);
      randomResizedCropBox(8, 8, probe, [1, 1], [1, 1]);
      const willFlip = probe.next() < 0.5;
      const out = await augmentImage(img, 8, rng, { scale: [1, 1], ratio: [1, 1], flip: true });
      if (willFlip) flipped = out;
      else straight = out;
    }
    expect(Buffer.from(straight!.data)).toEqual(px);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        for (let c = 0; c < 3; c++)
          expect(flipped!.data[(y * 8 + x) * 3 + c]).toBe(px[(y * 8 + (7 - x)) * 3 + c]);
      }
    }
  });
});
