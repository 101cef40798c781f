/**
 * Image files -> 8-bit RGB `[H, W, 3]` in the page, matching what the CLI's decoder (sharp) gives:
 * PNG is decoded in JavaScript (fast-png) so 16-bit samples and alpha go through the CLI's own `toRgb8`
 * arithmetic (alpha dropped, as PIL's convert('RGB') does); other formats go through the browser's decoder
 * with colour-space conversion off. The size is read from the header first, so a decompression bomb is
 * refused before any pixel is decoded.
 */
import { DEFAULT_MAX_PIXELS, type RgbImage, toRgb8 } from '@qlip/core/browser';
import { convertIndexedToRgb, decode as decodePng } from 'fast-png';

/** Formats recognised from their first bytes. */
type Format = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'avif';

const ACCEPTED = 'PNG, JPEG, WebP, GIF, AVIF or BMP';

function sniff(b: Uint8Array): Format | null {
  const ascii = (at: number, s: string) => [...s].every((c, i) => b[at + i] === c.charCodeAt(0));
  if (b[0] === 0x89 && ascii(1, 'PNG')) return 'png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(0, 'GIF8')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'BM')) return 'bmp';
  if (ascii(4, 'ftyp') && (ascii(8, 'avif') || ascii(8, 'avis'))) return 'avif';
  return null;
}

/** Width and height from the header (PNG, GIF, BMP, JPEG, WebP), or null when the format hides them. */
export function headerSize(b: Uint8Array, format: Format): { width: number; height: number } | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 30) return null;
  if (format === 'png') return { width: v.getUint32(16), height: v.getUint32(20) };
  if (format === 'gif') return { width: v.getUint16(6, true), height: v.getUint16(8, true) };
  if (format === 'bmp')
    return { width: Math.abs(v.getInt32(18, true)), height: Math.abs(v.getInt32(22, true)) };
  if (format === 'jpeg') {
    // Walk the marker segments to the first start-of-frame (SOF0-SOF15 but DHT/JPG/DAC).
    for (let i = 2; i + 9 < b.length; ) {
      if (b[i] !== 0xff) return null;
      const m = b[i + 1]!;
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
        return { width: v.getUint16(i + 7), height: v.getUint16(i + 5) };
      i += 2 + v.getUint16(i + 2);
    }
    return null;
  }
  if (format === 'webp') {
    const chunk = String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!);
    if (chunk === 'VP8X')
      return {
        width: 1 + (v.getUint32(24, true) & 0xffffff),
        height: 1 + (v.getUint32(27, true) & 0xffffff),
      };
    if (chunk === 'VP8L') {
      const bits = v.getUint32(21, true);
      return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
    }
    if (chunk === 'VP8 ')
      return { width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff };
  }
  return null;
}

function checkSize(name: string, width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new Error(
      `${name} is ${width}x${height} (${((width * height) / 1e6).toFixed(1)} megapixels), over the limit of ` +
        `${maxPixels} pixels: refusing to decode it (possible decompression bomb)`,
    );
  }
}

/** PNG through fast-png: exact samples, then the CLI's RGB8 conversion. */
function pngToRgb(bytes: Uint8Array): RgbImage | null {
  const png = decodePng(bytes);
  const pixels = png.width * png.height;
  if (png.palette) {
    const rgb = convertIndexedToRgb(png); // [H, W, 3 or 4]
    return {
      width: png.width,
      height: png.height,
      data: toRgb8(rgb, pixels, rgb.length / pixels, 255, 'drop'),
    };
  }
  // Sub-byte greyscale stays packed in fast-png's output: let the browser expand it.
  if (png.depth < 8) return null;
  const max = png.depth === 16 ? 65535 : 255;
  return { width: png.width, height: png.height, data: toRgb8(png.data, pixels, png.channels, max, 'drop') };
}

/** Any other format through the browser's decoder (EXIF orientation applied, colour space untouched). */
async function browserToRgb(bytes: Uint8Array, type: string): Promise<RgbImage> {
  const bitmap = await createImageBitmap(new Blob([bytes as BlobPart], { type }), {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
    imageOrientation: 'from-image',
  });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data; // [H, W, 4]
  bitmap.close();
  return {
    width: canvas.width,
    height: canvas.height,
    data: toRgb8(rgba, canvas.width * canvas.height, 4, 255, 'drop'),
  };
}

/**
 * Decode one image file to RGB. Throws an error naming the file and the fault for what is not an image,
 * is corrupt, or is over `maxPixels` (default: the CLI's 40 megapixels).
 */
export async function decodeImageFile(file: File, maxPixels = DEFAULT_MAX_PIXELS): Promise<RgbImage> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const format = sniff(bytes);
  if (!format) {
    throw new Error(
      `${file.name} is not an image the page can read (expected ${ACCEPTED}; ` +
        `${bytes.length === 0 ? 'the file is empty' : `it starts with ${describeStart(bytes)}`})`,
    );
  }
  const size = headerSize(bytes, format);
  if (size) checkSize(file.name, size.width, size.height, maxPixels);
  let img: RgbImage | null = null;
  try {
    img = format === 'png' ? pngToRgb(bytes) : null;
    img ??= await browserToRgb(bytes, `image/${format}`);
  } catch (err) {
    throw new Error(`cannot decode ${file.name} (${format.toUpperCase()}): ${(err as Error).message || err}`);
  }
  if (!size) checkSize(file.name, img.width, img.height, maxPixels);
  return img;
}

function describeStart(b: Uint8Array): string {
  const head = new TextDecoder('utf-8', { fatal: false }).decode(b.subarray(0, 16));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: printable check of the file's first bytes
  return /^[\x20-\x7e\t\r\n]+$/.test(head) ? `the text ${JSON.stringify(head.trim())}` : 'unknown bytes';
}

/** RGB `[H, W, 3]` -> PNG data URL (lossless: the page's reconstruction can be compared byte for byte). */
export function rgbToDataUrl(img: RgbImage): string {
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  const out = ctx.createImageData(img.width, img.height);
  for (let p = 0; p < img.width * img.height; p++) {
    out.data[p * 4] = img.data[p * 3]!;
    out.data[p * 4 + 1] = img.data[p * 3 + 1]!;
    out.data[p * 4 + 2] = img.data[p * 3 + 2]!;
    out.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  return canvas.toDataURL('image/png');
}
