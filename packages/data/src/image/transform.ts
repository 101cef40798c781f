import type { Rng } from '@qlip/core';
import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from '../types.js';

/** CLIP's pixel statistics (also QLIP's `preprocessor_config.json`). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Random resized crop settings (torchvision `RandomResizedCrop` semantics) plus a horizontal flip. */
export interface AugmentOptions {
  /** Range of the crop's area as a fraction of the image's area. */
  scale: [number, number];
  /** Range of the crop's aspect ratio (width / height), sampled log-uniformly. */
  ratio: [number, number];
  /** Flip horizontally with probability 1/2. */
  flip: boolean;
}

export const DEFAULT_AUGMENT: AugmentOptions = { scale: [0.8, 1], ratio: [3 / 4, 4 / 3], flip: true };

/** Python's `round` (ties to even), so crop offsets match torchvision's `center_crop`. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Geometry of CLIP's eval preprocessing: resize so the shorter side is `size` (the longer side is
 * `int(size * long / short)`, as torchvision computes it), then take the centred `size`x`size` window.
 */
export function centreCropGeometry(
  width: number,
  height: number,
  size: number,
): { resizeWidth: number; resizeHeight: number; crop: CropBox } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.floor((size * long) / short);
  const resizeWidth = width <= height ? size : newLong;
  const resizeHeight = width <= height ? newLong : size;
  const crop = {
    left: roundHalfEven((resizeWidth - size) / 2),
    top: roundHalfEven((resizeHeight - size) / 2),
    width: size,
    height: size,
  };
  return { resizeWidth, resizeHeight, crop };
}

/**
 * A random crop box in source pixels (torchvision `RandomResizedCrop.get_params`): up to 10 tries at a
 * random area fraction and log-uniform aspect ratio, else the largest centred box with a ratio in range.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  scale: [number, number],
  ratio: [number, number],
): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.next());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.next());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { left: rng.int(width - w + 1), top: rng.int(height - h + 1), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

function rawInput(img: RgbImage) {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
}

async function toRgbImage(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
  };
}

/** CLIP eval preprocessing on uint8 pixels: bicubic shortest-side resize to `size`, centre crop. */
export async function resizeCentreCrop(img: RgbImage, size: number): Promise<RgbImage> {
  const g = centreCropGeometry(img.width, img.height, size);
  return toRgbImage(
    rawInput(img).resize(g.resizeWidth, g.resizeHeight, { fit: 'fill', kernel: 'cubic' }).extract(g.crop),
  );
}

/** Training augmentation on uint8 pixels: random resized crop to `size`x`size` (bicubic), maybe flipped. */
export async function augmentImage(
  img: RgbImage,
  size: number,
  rng: Rng,
  opts: AugmentOptions,
): Promise<RgbImage> {
  const box = randomResizedCropBox(img.width, img.height, rng, opts.scale, opts.ratio);
  const flip = opts.flip && rng.next() < 0.5;
  let p = rawInput(img).extract(box).resize(size, size, { fit: 'fill', kernel: 'cubic' });
  if (flip) p = p.flop();
  return toRgbImage(p);
}

/**
 * `(x / 255 - mean) / std` per channel, HWC uint8 to CHW float32. Writes into `out` at `offset` when
 * given (a batch buffer), else into a new array.
 */
export function normaliseClip(img: RgbImage, out?: Float32Array, offset = 0): Float32Array {
  const plane = img.width * img.height;
  const dst = out ?? new Float32Array(3 * plane); // [3, H, W]
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * CLIP_STD[c]!);
    const shift = CLIP_MEAN[c]! / CLIP_STD[c]!;
    const base = offset + c * plane;
    for (let p = 0; p < plane; p++) dst[base + p] = img.data[p * 3 + c]! * scale - shift;
  }
  return dst;
}
