import {
  clipPreprocessParams,
  decodeImage,
  normalizeImage,
  type RgbImage,
  type Rng,
  resizeAndCrop,
  resizeBicubic,
} from '@qlip/core';

/**
 * Per-sample image work for the pipeline. Decoding, the PIL-exact bicubic resize, the centre crop and
 * the CLIP normalisation all come from `@qlip/core`, so training sees exactly the pixels `qlip tokenize`
 * and evaluation see; this module adds the training augmentation on uint8 pixels.
 */

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

/** Mild by default: a tokenizer must reconstruct whole images, so crops keep most of the frame. */
export const DEFAULT_AUGMENT: AugmentOptions = { scale: [0.8, 1], ratio: [3 / 4, 4 / 3], flip: true };

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

/** Copy a rectangle out of `[H, W, 3]`. */
export function cropRect(img: RgbImage, box: CropBox): RgbImage {
  if (
    box.left < 0 ||
    box.top < 0 ||
    box.width < 1 ||
    box.height < 1 ||
    box.left + box.width > img.width ||
    box.top + box.height > img.height
  ) {
    throw new Error(`cropRect: box ${JSON.stringify(box)} is outside the ${img.width}x${img.height} image`);
  }
  const data = new Uint8Array(box.width * box.height * 3); // [h, w, 3]
  for (let y = 0; y < box.height; y++) {
    const src = ((box.top + y) * img.width + box.left) * 3;
    data.set(img.data.subarray(src, src + box.width * 3), y * box.width * 3);
  }
  return { width: box.width, height: box.height, data };
}

/** Mirror left-right. */
export function flipHorizontal(img: RgbImage): RgbImage {
  const { width: w, height: h } = img;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (w - 1 - x)) * 3;
      data[d] = img.data[s]!;
      data[d + 1] = img.data[s + 1]!;
      data[d + 2] = img.data[s + 2]!;
    }
  }
  return { width: w, height: h, data };
}

/** Training augmentation on uint8 pixels: random resized crop to `size`x`size` (PIL bicubic), maybe flipped. */
export function augmentImage(img: RgbImage, size: number, rng: Rng, opts: AugmentOptions): RgbImage {
  const box = randomResizedCropBox(img.width, img.height, rng, opts.scale, opts.ratio);
  const flip = opts.flip && rng.next() < 0.5;
  const crop = cropRect(img, box);
  const resized = crop.width === size && crop.height === size ? crop : resizeBicubic(crop, size, size);
  return flip ? flipHorizontal(resized) : resized;
}

function isRgb(x: Uint8Array | RgbImage): x is RgbImage {
  return !(x instanceof Uint8Array);
}

/** One image's preprocessing, as plain data so it can be posted to a worker thread. */
export interface PreprocessJob {
  input: Uint8Array | RgbImage;
  size: number;
  augment: AugmentOptions | false;
  /** Seed of the sample's augmentation rng; `null` for CLIP's resize + centre crop. */
  augmentSeed: number | null;
  /** Names the sample in error messages. */
  name: string;
}

/**
 * Decode (unless already RGB) and turn one image into CLIP-normalised `[3, S, S]`: the augmentation
 * when `augment` and `rng` are given, else CLIP's resize + centre crop. Throws naming `name` on
 * undecodable input; the pipeline turns that into a `corrupt` skip.
 */
export async function preprocessSampleImage(
  input: Uint8Array | RgbImage,
  size: number,
  augment: AugmentOptions | false,
  rng: Rng | null,
  name = 'image',
): Promise<Float32Array> {
  let rgb: RgbImage;
  if (isRgb(input)) {
    if (!(input.width > 0 && input.height > 0) || input.data.length !== input.width * input.height * 3) {
      throw new Error(
        `${name}: RGB image of ${input.width}x${input.height} has ${input.data.length} bytes, expected ${input.width * input.height * 3}`,
      );
    }
    rgb = input;
  } else {
    rgb = await decodeImage(input, { name });
  }
  const params = clipPreprocessParams(size);
  const out =
    augment === false || rng === null ? resizeAndCrop(rgb, params) : augmentImage(rgb, size, rng, augment);
  return normalizeImage(out, params); // [3, S, S]
}
