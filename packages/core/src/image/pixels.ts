/**
 * The pure pixel arithmetic of qlip's image pipeline (no Node built-ins, no tfjs, no sharp), shared by the
 * CLI and the browser page so both compute identical pixels: sample conversion to RGB8, the reference
 * resize + centre crop + CLIP normalisation, and the inverse (normalised floats -> uint8).
 */
import { resizeBicubic } from './resample.js';

/** 8-bit RGB pixels, row-major `[height, width, 3]`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array; // [H, W, 3]
}

/**
 * What happens to an alpha channel.
 * - `drop` (default): keep the stored colour and discard alpha, as PIL's `convert('RGB')` does in the
 *   reference preprocessing (HF CLIPImageProcessor and open_clip both call it), so training and
 *   tokenizing see what the reference model saw.
 * - `white`: composite over opaque white (`c * a + 1 * (1 - a)`), the "what a viewer shows" result.
 * - `black`: composite over opaque black (`c * a`).
 */
export type AlphaMode = 'drop' | 'white' | 'black';
export const ALPHA_MODES: readonly AlphaMode[] = ['drop', 'white', 'black'];

/** Default decompression-bomb guard: 40 megapixels (a 7296 x 5472 photo is 39.9). */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** CLIP's per-channel pixel mean (RGB), as in QLIP's `preprocessor_config.json`. */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
/** CLIP's per-channel pixel standard deviation (RGB). */
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/**
 * Everything that decides the pixel values the model sees, as a plain JSON-able object (tokenized
 * datasets store it in their meta.json; a dataset made with other parameters must not be mixed in).
 */
export interface ImagePreprocessParams {
  /** Resize so the shorter side equals this; the longer side becomes `floor(size * long / short)`. */
  shortestEdge: number;
  resample: 'bicubic-pil';
  /** Centre crop `[cropSize, cropSize]`; offsets are `floor((side - cropSize) / 2)` (HF `center_crop`). */
  cropSize: number;
  cropRounding: 'floor';
  /** Multiplies uint8 values before normalisation. */
  rescaleFactor: number;
  mean: [number, number, number];
  std: [number, number, number];
  alpha: AlphaMode;
  exifOrientation: 'applied';
  layout: 'NCHW';
}

/**
 * The reference preprocessing of QLIP (HF CLIPImageProcessor with QLIP's config): shortest edge ->
 * `size` with PIL bicubic, centre crop `size x size`, `/255`, CLIP mean/std.
 */
export function clipPreprocessParams(size: number, alpha: AlphaMode = 'drop'): ImagePreprocessParams {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`clipPreprocessParams: size must be a positive integer, got ${size}`);
  return {
    shortestEdge: size,
    resample: 'bicubic-pil',
    cropSize: size,
    cropRounding: 'floor',
    rescaleFactor: 1 / 255,
    mean: [...CLIP_MEAN],
    std: [...CLIP_STD],
    alpha,
    exifOrientation: 'applied',
    layout: 'NCHW',
  };
}

/** Output size of a shortest-edge resize, with HF/torchvision's truncation of the long side. */
export function shortestEdgeSize(
  width: number,
  height: number,
  size: number,
): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Top-left corner of a centred `crop x crop` window, floored as HF's `center_crop` does. */
export function centerCropOffsets(
  width: number,
  height: number,
  crop: number,
): { left: number; top: number } {
  if (width < crop || height < crop) {
    throw new Error(`centerCropOffsets: image ${width}x${height} is smaller than the crop ${crop}x${crop}`);
  }
  return { left: Math.floor((width - crop) / 2), top: Math.floor((height - crop) / 2) };
}

/** Copy the `crop x crop` window at (left, top) out of `[H, W, 3]`. */
export function cropImage(img: RgbImage, left: number, top: number, crop: number): RgbImage {
  const data = new Uint8Array(crop * crop * 3);
  for (let y = 0; y < crop; y++) {
    const src = ((top + y) * img.width + left) * 3;
    data.set(img.data.subarray(src, src + crop * 3), y * crop * 3);
  }
  return { width: crop, height: crop, data };
}

/** Shortest-edge bicubic resize (PIL-exact), then centre crop: `[H, W, 3]` -> `[crop, crop, 3]` uint8. */
export function resizeAndCrop(img: RgbImage, params: ImagePreprocessParams): RgbImage {
  const target = shortestEdgeSize(img.width, img.height, params.shortestEdge);
  const resized =
    target.width === img.width && target.height === img.height
      ? img
      : resizeBicubic(img, target.width, target.height);
  const { left, top } = centerCropOffsets(resized.width, resized.height, params.cropSize);
  return cropImage(resized, left, top, params.cropSize);
}

/**
 * uint8 `[H, W, 3]` -> CLIP-normalised float32 `[3, H, W]`, written into `out` at `offset` when given.
 * Arithmetic follows HF in float32: `fround(u * rescale)` (HF rescales in float64, then casts), then
 * `(x - mean) / std` with float32 mean/std.
 */
export function normalizeImage(
  img: RgbImage,
  params: Pick<ImagePreprocessParams, 'rescaleFactor' | 'mean' | 'std'>,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const hw = img.width * img.height;
  const dst = out ?? new Float32Array(3 * hw);
  if (dst.length < offset + 3 * hw)
    throw new Error(`normalizeImage: output holds ${dst.length} values, needs ${offset + 3 * hw}`);
  // Per-channel lookup tables: 256 possible inputs, each computed once with the float32 rounding steps.
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(params.mean[c]!);
    const std = Math.fround(params.std[c]!);
    const lut = new Float32Array(256);
    for (let u = 0; u < 256; u++)
      lut[u] = Math.fround(Math.fround(Math.fround(u * params.rescaleFactor) - mean) / std);
    const base = offset + c * hw; // plane c of [3, H, W]
    for (let p = 0; p < hw; p++) dst[base + p] = lut[img.data[p * 3 + c]!]!;
  }
  return dst;
}

/**
 * Interleaved samples with 1-4 channels (gray, gray+alpha, RGB, RGBA) of range [0, max] -> RGB uint8.
 * Pure, exported for tests of the 16-bit and alpha arithmetic.
 */
export function toRgb8(
  samples: ArrayLike<number>,
  pixels: number,
  channels: number,
  max: 255 | 65535,
  alpha: AlphaMode,
): Uint8Array {
  if (channels < 1 || channels > 4 || samples.length !== pixels * channels) {
    throw new Error(
      `toRgb8: expected ${pixels} pixels x 1-4 channels, got ${samples.length} samples / ${channels} channels`,
    );
  }
  const colour = channels >= 3 ? 3 : 1;
  const hasAlpha = channels === 2 || channels === 4;
  const composite = hasAlpha && alpha !== 'drop';
  const bg = alpha === 'white' ? max : 0; // composite colour
  const out = new Uint8Array(pixels * 3);
  // Exact rational arithmetic in doubles, one rounding at the end: v * 255 / max, or for compositing
  // (v * a + bg * (max - a)) / max, then * 255 / max.
  for (let p = 0; p < pixels; p++) {
    const s = p * channels;
    const a = composite ? samples[s + channels - 1]! : max;
    for (let c = 0; c < 3; c++) {
      const v = samples[s + (colour === 3 ? c : 0)]!;
      const mixed = composite ? (v * a + bg * (max - a)) / max : v;
      out[p * 3 + c] = max === 255 ? Math.round(mixed) : Math.round(mixed / 257);
    }
  }
  return out;
}

export type Norm = Pick<ImagePreprocessParams, 'mean' | 'std'>;
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
