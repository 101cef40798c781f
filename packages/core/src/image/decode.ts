import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { DEFAULT_MAX_FILE_BYTES, InputFileError, openRegularFile, readOpenFile } from '../files.js';
import { reportDecodedImage } from './audit.js';
import { withDecodeMemory } from './budget.js';
import { ALPHA_MODES, type AlphaMode, DEFAULT_MAX_PIXELS, type RgbImage, toRgb8 } from './pixels.js';

export interface DecodeOptions {
  /** Largest width x height accepted, checked from the header before any pixel is decoded. */
  maxPixels?: number;
  /** Alpha handling, see {@link AlphaMode}. Default `drop`. */
  alpha?: AlphaMode;
  /** Name used in error messages when the input is a buffer (default `<buffer>`). */
  name?: string;
  /** Largest file accepted when the input is a path, checked from its size before reading (default 256 MiB). */
  maxBytes?: number;
}

/**
 * Read an image file safely: a regular file (never a FIFO or device), at most `maxBytes` (from its size,
 * before reading), and a header whose width x height is within `maxPixels` -- all checked before the body
 * is read, so a sparse 1 GB file or a decompression bomb costs nothing.
 */
export async function readImageFile(
  path: string,
  opts: { maxBytes?: number; maxPixels?: number } = {},
): Promise<Buffer> {
  const { fh, size } = await openRegularFile(path, {
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES,
    what: 'image',
  });
  try {
    let meta: Metadata;
    try {
      // libvips reads the header only.
      meta = await sharp(path, { limitInputPixels: false }).metadata();
    } catch (err) {
      throw new InputFileError(`Cannot decode image ${path}: ${message(err)}`, 'undecodable', { cause: err });
    }
    checkDimensions(path, meta, opts.maxPixels ?? DEFAULT_MAX_PIXELS);
    return await readOpenFile(fh, size, path);
  } finally {
    await fh.close();
  }
}

function checkDimensions(name: string, meta: Metadata, maxPixels: number): { width: number; height: number } {
  const { width, height } = meta;
  if (!width || !height)
    throw new InputFileError(`Cannot decode image ${name}: its header gives no dimensions`, 'undecodable');
  if (width * height > maxPixels) {
    throw new InputFileError(
      `Image ${name} is ${width}x${height} (${((width * height) / 1e6).toFixed(1)} megapixels), over the ` +
        `limit of ${maxPixels} pixels: refusing to decode it (possible decompression bomb; raise maxPixels to allow it)`,
      'tooManyPixels',
    );
  }
  return { width, height };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Decode any raster image sharp reads here (PNG, JPEG, WebP, AVIF, TIFF, GIF; palette, grayscale,
 * 16-bit and alpha variants) to 8-bit RGB `[H, W, 3]`.
 *
 * - The EXIF orientation is applied, so the pixels are upright as a viewer shows them.
 * - Only the first frame of an animated GIF/WebP or the first page of a multi-page TIFF is read.
 * - Grayscale is replicated to R = G = B; palette images are expanded; embedded ICC profiles are
 *   converted to sRGB by libvips.
 * - 16-bit samples are scaled with rounding, `round(v / 257)` (65535 -> 255, 32896 -> 128), not
 *   truncated to their high byte.
 * - Alpha is dropped by default (matching the reference's PIL `convert('RGB')`), or composited on
 *   white with `{ alpha: 'white' }`.
 * - Images over `maxPixels` (default {@link DEFAULT_MAX_PIXELS}) are refused from their header
 *   dimensions alone, before decoding, so a small file that claims a huge canvas costs nothing.
 *
 * @param input a file path, or the encoded bytes
 * @throws Error naming the file (or `opts.name`) and the cause when the input cannot be read, is not a
 *   supported image, is corrupt or truncated, or is too large. Callers that scan folders catch, skip and
 *   count.
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const name = typeof input === 'string' ? input : (opts.name ?? '<buffer>');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const alpha = opts.alpha ?? 'drop';
  if (!(maxPixels > 0))
    throw new Error(`decodeImage ${name}: maxPixels must be a positive number, got ${maxPixels}`);
  if (!ALPHA_MODES.includes(alpha)) {
    throw new Error(`decodeImage ${name}: alpha must be one of ${ALPHA_MODES.join(', ')}, got "${alpha}"`);
  }

  let bytes: Uint8Array;
  try {
    bytes =
      typeof input === 'string' ? await readImageFile(input, { maxBytes: opts.maxBytes, maxPixels }) : input;
  } catch (err) {
    if (err instanceof InputFileError && err.fault !== 'unreadable') throw err;
    const cause = err instanceof InputFileError && err.cause ? err.cause : err;
    throw new InputFileError(`Cannot read image ${name}: ${message(cause)}`, 'unreadable', { cause });
  }

  let meta: Metadata;
  try {
    // Header only: lift sharp's own limit here so that our check, with its clearer message, decides.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InputFileError(`Cannot decode image ${name}: ${message(err)}`, 'undecodable', { cause: err });
  }
  const { width, height } = checkDimensions(name, meta, maxPixels);

  // Decode at 16 bits when the source has them, so the reduction to 8 bits is ours (rounded).
  const sixteen = meta.depth === 'ushort';
  // Memory of this decode: libvips' bitmap (and a working copy) plus the 8-bit RGB result.
  const bytesNeeded = width * height * (2 * (meta.channels ?? 4) * (sixteen ? 2 : 1) + 3);
  return withDecodeMemory(bytesNeeded, () => decodePixels(bytes, name, maxPixels, sixteen, alpha));
}

async function decodePixels(
  bytes: Uint8Array,
  name: string,
  maxPixels: number,
  sixteen: boolean,
  alpha: AlphaMode,
): Promise<RgbImage> {
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, { limitInputPixels: maxPixels, pages: 1, page: 0 })
      .autoOrient()
      .toColourspace(sixteen ? 'rgb16' : 'srgb')
      .raw({ depth: sixteen ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new InputFileError(`Cannot decode image ${name}: ${message(err)}`, 'undecodable', { cause: err });
  }
  const { info } = raw;
  const samples = sixteen
    ? new Uint16Array(raw.data.buffer, raw.data.byteOffset, raw.data.length / 2)
    : new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.length);
  reportDecodedImage({
    name,
    width: info.width,
    height: info.height,
    transparent: hasTransparency(samples, info.channels, sixteen ? 65535 : 255),
    alpha,
  });
  return {
    width: info.width,
    height: info.height,
    data: toRgb8(samples, info.width * info.height, info.channels, sixteen ? 65535 : 255, alpha),
  };
}

/** True when an image with an alpha channel (2 or 4 channels) has a pixel that is not fully opaque. */
function hasTransparency(samples: ArrayLike<number>, channels: number, max: number): boolean {
  if (channels !== 2 && channels !== 4) return false;
  for (let i = channels - 1; i < samples.length; i += channels) if (samples[i]! < max) return true;
  return false;
}
