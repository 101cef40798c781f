import sharp from 'sharp';
import { checkPair, type Image } from '../image.js';

export interface GridOptions {
  /** Original/reconstruction pairs per row (default: up to 4). */
  pairsPerRow?: number;
  /** Gap in pixels between tiles and around the border (default 4). */
  gap?: number;
  /** Background grey level 0..255 (default 255, white). */
  background?: number;
  /** Integer enlargement of every tile, nearest neighbour (default: `gridUpscale`, so small images are judgeable). */
  scale?: number;
}

/** Tiles smaller than this are enlarged (by a whole factor) in a grid. */
const MIN_TILE = 128;

/**
 * The whole-number enlargement that brings a `w x h` tile to at least 128 px on its longer side (1 for
 * images that large already): a 32 px reconstruction is drawn 4x, each pixel a 4x4 block, so its blocks and
 * blur are visible instead of a thumbnail.
 */
export function gridUpscale(w: number, h: number): number {
  return Math.max(1, Math.ceil(MIN_TILE / Math.max(w, h, 1)));
}

/**
 * A PNG contact sheet with each original beside its reconstruction: rows of
 * `[orig | recon]  [orig | recon] ...`. All images must share one shape; grey images are shown as grey.
 * Small images are enlarged with nearest neighbour (`opts.scale`, default `gridUpscale`), never smoothed.
 */
export async function reconstructionGridPng(
  originals: Image[],
  reconstructions: Image[],
  opts: GridOptions = {},
): Promise<Buffer> {
  const n = originals.length;
  if (n === 0 || reconstructions.length !== n) {
    throw new Error(
      `reconstructionGridPng: need the same non-zero number of originals and reconstructions, got ${n} and ${reconstructions.length}`,
    );
  }
  const { height: h0, width: w0, channels: c } = originals[0];
  const k = Math.max(1, Math.round(opts.scale ?? gridUpscale(w0, h0)));
  const [h, w] = [h0 * k, w0 * k]; // tile size on the sheet
  for (let i = 0; i < n; i++) {
    checkPair(originals[i], reconstructions[i], `reconstructionGridPng pair ${i}`);
    const o = originals[i];
    if (o.height !== h0 || o.width !== w0 || o.channels !== c) {
      throw new Error(
        `reconstructionGridPng: image ${i} is ${o.height}x${o.width}x${o.channels}, expected ${h0}x${w0}x${c} like image 0`,
      );
    }
  }
  if (c !== 1 && c !== 3)
    throw new Error(`reconstructionGridPng: images must have 1 or 3 channels, got ${c}`);
  const per = opts.pairsPerRow ?? Math.min(4, n);
  const gap = opts.gap ?? 4;
  const rows = Math.ceil(n / per);
  const W = gap + per * (2 * w + gap * 2);
  const H = gap + rows * (h + gap);
  const canvas = Buffer.alloc(W * H * 3, opts.background ?? 255); // [H, W, 3]
  const blit = (img: Image, x0: number, y0: number) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = (Math.floor(y / k) * w0 + Math.floor(x / k)) * c; // nearest source pixel
        const dst = ((y0 + y) * W + x0 + x) * 3;
        for (let ch = 0; ch < 3; ch++) {
          const v = img.data[src + (c === 1 ? 0 : ch)];
          canvas[dst + ch] = Math.min(255, Math.max(0, Math.round(v)));
        }
      }
    }
  };
  for (let i = 0; i < n; i++) {
    const x0 = gap + (i % per) * (2 * w + gap * 2);
    const y0 = gap + Math.floor(i / per) * (h + gap);
    blit(originals[i], x0, y0);
    blit(reconstructions[i], x0 + w, y0); // touching its original: the pair reads as one tile
  }
  return sharp(canvas, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
}
