import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import type { RgbImage } from './decode.js';
import { CLIP_MEAN, CLIP_STD, type ImagePreprocessParams } from './preprocess.js';

type Norm = Pick<ImagePreprocessParams, 'mean' | 'std'>;
const CLIP_NORM: Norm = { mean: [...CLIP_MEAN], std: [...CLIP_STD] };

/**
 * Normalised float `[3, H, W]` (or a batch `[B, 3, H, W]`) -> uint8 RGB images `[H, W, 3]`:
 * `x * std + mean`, clamped to [0, 1], then `floor(x * 255 + 0.5)` (torchvision's `save_image` rule).
 * NaN maps to 0.
 */
export function denormalizeImages(
  data: ArrayLike<number>,
  shape: readonly number[],
  norm: Norm = CLIP_NORM,
): RgbImage[] {
  const dims = shape.length === 3 ? [1, ...shape] : [...shape];
  if (dims.length !== 4 || dims[1] !== 3) {
    throw new Error(`denormalizeImages: expected shape [3, H, W] or [B, 3, H, W], got [${shape.join(', ')}]`);
  }
  const [b, , h, w] = dims as [number, number, number, number];
  if (data.length !== b * 3 * h * w) {
    throw new Error(
      `denormalizeImages: shape [${shape.join(', ')}] needs ${b * 3 * h * w} values, got ${data.length}`,
    );
  }
  const hw = h * w;
  const images: RgbImage[] = [];
  for (let i = 0; i < b; i++) {
    const out = new Uint8Array(hw * 3); // [H, W, 3]
    for (let c = 0; c < 3; c++) {
      const plane = (i * 3 + c) * hw; // plane c of image i in [B, 3, H, W]
      const m = norm.mean[c]!;
      const s = norm.std[c]!;
      for (let p = 0; p < hw; p++) {
        const x = data[plane + p]! * s + m;
        // NaN survives min/max and floor; storing it in a Uint8Array writes 0.
        out[p * 3 + c] = Math.floor(Math.min(Math.max(x, 0), 1) * 255 + 0.5);
      }
    }
    images.push({ width: w, height: h, data: out });
  }
  return images;
}

/** {@link denormalizeImages} for a tfjs tensor `[3, H, W]` or `[B, 3, H, W]` (not disposed). */
export async function tensorToImages(t: tf.Tensor, norm: Norm = CLIP_NORM): Promise<RgbImage[]> {
  return denormalizeImages(await t.data(), t.shape, norm);
}

/** Encode `[H, W, 3]` uint8 as a lossless PNG. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(
      `encodePng: image ${img.width}x${img.height} has ${img.data.length} bytes, expected ${img.width * img.height * 3}`,
    );
  }
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
}

/** Write a PNG, creating parent folders; written to a temporary name first so a crash leaves no half file. */
export async function writePng(path: string, img: RgbImage): Promise<void> {
  const png = await encodePng(img);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, png);
  await rename(tmp, path);
}

export interface GridOptions {
  /** Pixels between neighbouring cells, no outer border (default 4). */
  gap?: number;
  /** Fill for gaps and for cells larger than their image (default white). */
  background?: [number, number, number];
}

/**
 * Lay images out in rows (e.g. `[[original, reconstruction], ...]`), each centred in its cell; a
 * column is as wide as its widest image and a row as tall as its tallest. Rows may differ in length.
 */
export function imageGrid(rows: readonly (readonly RgbImage[])[], opts: GridOptions = {}): RgbImage {
  const gap = opts.gap ?? 4;
  const bg = opts.background ?? [255, 255, 255];
  if (rows.length === 0 || rows.every((r) => r.length === 0)) throw new Error('imageGrid: no images given');
  const cols = Math.max(...rows.map((r) => r.length));
  const colW = Array.from({ length: cols }, (_, c) => Math.max(0, ...rows.map((r) => r[c]?.width ?? 0)));
  const rowH = rows.map((r) => Math.max(0, ...r.map((im) => im.height)));
  const width = colW.reduce((a, v) => a + v, 0) + gap * (cols - 1);
  const height = rowH.reduce((a, v) => a + v, 0) + gap * (rows.length - 1);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(bg, p * 3);
  let y0 = 0;
  rows.forEach((row, r) => {
    let x0 = 0;
    for (let c = 0; c < cols; c++) {
      const im = row[c];
      if (im) {
        const ox = x0 + Math.floor((colW[c]! - im.width) / 2);
        const oy = y0 + Math.floor((rowH[r]! - im.height) / 2);
        for (let y = 0; y < im.height; y++) {
          data.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), ((oy + y) * width + ox) * 3);
        }
      }
      x0 += colW[c]! + gap;
    }
    y0 += rowH[r]! + gap;
  });
  return { width, height, data };
}

/** Images side by side in one row, e.g. `original | reconstruction`. */
export function sideBySide(images: readonly RgbImage[], opts: GridOptions = {}): RgbImage {
  return imageGrid([images], opts);
}
