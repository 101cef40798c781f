import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../durable.js';
import type { RgbImage } from './pixels.js';

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

/** Write a PNG, creating parent folders; atomically (temp file, checked, fsynced, renamed): no half file ever. */
export async function writePng(path: string, img: RgbImage): Promise<void> {
  const png = await encodePng(img);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, [png]);
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
