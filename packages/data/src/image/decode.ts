import sharp from 'sharp';
import type { RgbImage } from '../types.js';

/**
 * Decode encoded image bytes (JPEG, PNG, WebP, GIF, TIFF, AVIF) to interleaved RGB uint8.
 * Alpha is composited onto white (emoji and logos have transparent backgrounds); greyscale is expanded
 * to three equal channels. EXIF orientation is ignored, as PIL does in CLIP's preprocessing.
 * sharp decodes on libuv threads, so several of these can run concurrently.
 *
 * This is the one place that would switch to `@qlip/core`'s `decodeImage` once that exists.
 */
export async function decodeRgb(input: Buffer | RgbImage, what = 'image'): Promise<RgbImage> {
  if (!Buffer.isBuffer(input)) {
    checkRgb(input, what);
    return input;
  }
  const { data, info } = await sharp(input, { failOn: 'error' })
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels === 3) {
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
    };
  }
  return {
    data: toRgb(data, info.width * info.height, info.channels, what),
    width: info.width,
    height: info.height,
  };
}

/** Repack `channels`-per-pixel bytes as RGB (1 -> replicate grey, 2 -> grey+alpha, 4 -> drop alpha). */
function toRgb(src: Uint8Array, pixels: number, channels: number, what: string): Uint8Array {
  if (channels < 1 || channels > 4) throw new Error(`${what}: decoded to ${channels} channels, expected 1-4`);
  const out = new Uint8Array(pixels * 3); // [H, W, 3]
  for (let p = 0; p < pixels; p++) {
    const s = p * channels;
    const grey = channels <= 2;
    out[p * 3] = src[s]!;
    out[p * 3 + 1] = grey ? src[s]! : src[s + 1]!;
    out[p * 3 + 2] = grey ? src[s]! : src[s + 2]!;
  }
  return out;
}

function checkRgb(img: RgbImage, what: string): void {
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) {
    throw new Error(
      `${what}: RGB image of ${img.width}x${img.height} has ${img.data.length} bytes, expected ${img.width * img.height * 3}`,
    );
  }
}

/** Greyscale uint8 pixels (e.g. MNIST) as an RGB image. */
export function greyToRgb(grey: Uint8Array, width: number, height: number): RgbImage {
  return { data: toRgb(grey, width * height, 1, 'grey image'), width, height };
}
