import { checkPair, type Image } from './image.js';

/** Mean squared error over every sample of two same-shaped images (0..255 scale). */
export function mse(a: Image, b: Image): number {
  checkPair(a, b, 'mse');
  let s = 0;
  const n = a.data.length;
  for (let i = 0; i < n; i++) {
    const d = a.data[i] - b.data[i];
    s += d * d;
  }
  return s / n;
}

/**
 * Peak signal-to-noise ratio in dB of one image pair on the 0..255 scale:
 * `10 log10(255^2 / MSE)`, the MSE taken over all pixels and channels together (as
 * `skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255)`). Identical images give `Infinity`.
 */
export function psnr(a: Image, b: Image, dataRange = 255): number {
  const m = mse(a, b);
  return 10 * Math.log10((dataRange * dataRange) / m);
}

/**
 * PSNR of a set as papers report it: the mean of the per-image PSNRs (not the PSNR of the pooled MSE).
 * Returns `Infinity` if any pair is identical; `perImage` lets the caller inspect such pairs.
 */
export function psnrSet(originals: Image[], reconstructions: Image[]): { mean: number; perImage: number[] } {
  if (originals.length !== reconstructions.length || originals.length === 0) {
    throw new Error(
      `psnrSet: need the same non-zero number of originals and reconstructions, got ${originals.length} and ${reconstructions.length}`,
    );
  }
  const perImage = originals.map((o, i) => psnr(o, reconstructions[i]));
  return { mean: perImage.reduce((s, v) => s + v, 0) / perImage.length, perImage };
}
