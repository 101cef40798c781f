import * as tf from '@tensorflow/tfjs-core';
import { type AlphaMode, type DecodeOptions, decodeImage, type RgbImage } from './decode.js';
import { resizeBicubic } from './resample.js';

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

export type ImageInput = string | Uint8Array | RgbImage;

function isRgbImage(x: ImageInput): x is RgbImage {
  return typeof x === 'object' && 'width' in x && 'height' in x && 'data' in x;
}

async function toRgbImage(
  input: ImageInput,
  params: ImagePreprocessParams,
  decode: DecodeOptions,
): Promise<RgbImage> {
  if (isRgbImage(input)) {
    if (input.data.length !== input.width * input.height * 3) {
      throw new Error(
        `preprocess: RGB image ${input.width}x${input.height} has ${input.data.length} bytes, expected ${input.width * input.height * 3}`,
      );
    }
    return input;
  }
  return decodeImage(input, { ...decode, alpha: params.alpha });
}

/**
 * Decode (when given a path or bytes), resize, crop and normalise one image -> float32 `[3, S, S]`.
 * Alpha handling comes from `params.alpha` (so it is recorded with the params), not from `decode`.
 * Throws the decoder's error (naming the file) for unreadable input.
 */
export async function preprocessImage(
  input: ImageInput,
  params: ImagePreprocessParams,
  decode: DecodeOptions = {},
): Promise<Float32Array> {
  return normalizeImage(resizeAndCrop(await toRgbImage(input, params, decode), params), params);
}

/** A batch of model-ready pixels. */
export interface PixelBatch {
  data: Float32Array; // [B, 3, S, S]
  shape: [number, number, number, number];
}

/**
 * Preprocess several images into one `[B, 3, S, S]` float32 buffer. Images are decoded one after the
 * other to bound memory; the first failure throws (naming its file). Callers that skip bad files use
 * {@link preprocessImage} per file and assemble the survivors.
 */
export async function preprocessBatch(
  inputs: readonly ImageInput[],
  params: ImagePreprocessParams,
  decode: DecodeOptions = {},
): Promise<PixelBatch> {
  const s = params.cropSize;
  const data = new Float32Array(inputs.length * 3 * s * s);
  for (let i = 0; i < inputs.length; i++) {
    const img = resizeAndCrop(await toRgbImage(inputs[i]!, params, decode), params);
    normalizeImage(img, params, data, i * 3 * s * s);
  }
  return { data, shape: [inputs.length, 3, s, s] };
}

/** The batch as a tfjs tensor `[B, 3, S, S]` on the current backend (caller disposes it). */
export function pixelBatchTensor(batch: PixelBatch): tf.Tensor4D {
  return tf.tensor4d(batch.data, batch.shape, 'float32');
}
