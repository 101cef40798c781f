import * as tf from '@tensorflow/tfjs-core';
import { type DecodeOptions, decodeImage } from './decode.js';
import { type ImagePreprocessParams, normalizeImage, type RgbImage, resizeAndCrop } from './pixels.js';

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
