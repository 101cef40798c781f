import { checkPair, type Image } from './image.js';

/**
 * SSIM settings. Defaults are Wang et al. (2004): an 11x11 Gaussian window with sigma 1.5,
 * K1 = 0.01, K2 = 0.03, data range 255, population (not sample) covariances.
 */
export interface SsimOptions {
  sigma?: number;
  /** Window radius in pixels; default `floor(3.5 * sigma + 0.5)` = 5 (scipy's `truncate=3.5`). */
  radius?: number;
  k1?: number;
  k2?: number;
  dataRange?: number;
}

/** Normalised 1-D Gaussian taps `exp(-x^2 / 2 sigma^2)` for x in [-radius, radius] (float64). */
export function gaussianTaps(sigma: number, radius: number): Float64Array {
  const taps = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 * i * i) / (sigma * sigma));
    taps[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < taps.length; i++) taps[i] /= sum;
  return taps;
}

/**
 * Separable Gaussian filter of one channel, evaluated only where the whole window lies inside the
 * image ("valid"): out is [(h - 2r) x (w - 2r)], row-major, float64.
 */
function filterValid(src: Float64Array, h: number, w: number, taps: Float64Array): Float64Array {
  const r = (taps.length - 1) / 2;
  const ow = w - 2 * r;
  const oh = h - 2 * r;
  const rows = new Float64Array(h * ow); // horizontal pass: [h, ow]
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < taps.length; t++) s += taps[t] * src[y * w + x + t];
      rows[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow); // vertical pass: [oh, ow]
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < taps.length; t++) s += taps[t] * rows[(y + t) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
}

/**
 * Mean SSIM of one image pair, computed per channel and averaged over channels, in float64.
 *
 * Matches `skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=255, channel_axis=-1)`. Borders: skimage filters the whole
 * image (reflect mode) and then averages the SSIM map after cropping `radius` = 5 pixels from every
 * side; those cropped-in positions are exactly the ones whose 11x11 window lies inside the image, so
 * this implementation evaluates only those "valid" positions and never reads padding. That is also
 * what `pytorch_msssim.ssim` does (valid convolution), so both agree with this function; the
 * reported value is skimage's. Images must be at least 11x11.
 */
export function ssim(a: Image, b: Image, opts: SsimOptions = {}): number {
  checkPair(a, b, 'ssim');
  const sigma = opts.sigma ?? 1.5;
  const radius = opts.radius ?? Math.floor(3.5 * sigma + 0.5);
  const win = 2 * radius + 1;
  const { height: h, width: w, channels: c } = a;
  if (h < win || w < win) {
    throw new Error(
      `ssim: image is ${h}x${w}, smaller than the ${win}x${win} window (need at least ${win}x${win})`,
    );
  }
  const range = opts.dataRange ?? 255;
  const c1 = ((opts.k1 ?? 0.01) * range) ** 2;
  const c2 = ((opts.k2 ?? 0.03) * range) ** 2;
  const taps = gaussianTaps(sigma, radius);
  const n = h * w;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const xx = new Float64Array(n);
  const yy = new Float64Array(n);
  const xy = new Float64Array(n);
  let total = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < n; i++) {
      const u = a.data[i * c + ch];
      const v = b.data[i * c + ch];
      x[i] = u;
      y[i] = v;
      xx[i] = u * u;
      yy[i] = v * v;
      xy[i] = u * v;
    }
    const mx = filterValid(x, h, w, taps);
    const my = filterValid(y, h, w, taps);
    const mxx = filterValid(xx, h, w, taps);
    const myy = filterValid(yy, h, w, taps);
    const mxy = filterValid(xy, h, w, taps);
    let s = 0;
    for (let i = 0; i < mx.length; i++) {
      const ux = mx[i];
      const uy = my[i];
      const vx = mxx[i] - ux * ux;
      const vy = myy[i] - uy * uy;
      const vxy = mxy[i] - ux * uy;
      s += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
    }
    total += s / mx.length;
  }
  return total / c;
}

/** Mean SSIM over a set of image pairs (the mean of per-image SSIMs), with the per-image values. */
export function ssimSet(
  originals: Image[],
  reconstructions: Image[],
  opts: SsimOptions = {},
): { mean: number; perImage: number[] } {
  if (originals.length !== reconstructions.length || originals.length === 0) {
    throw new Error(
      `ssimSet: need the same non-zero number of originals and reconstructions, got ${originals.length} and ${reconstructions.length}`,
    );
  }
  const perImage = originals.map((o, i) => ssim(o, reconstructions[i], opts));
  return { mean: perImage.reduce((s, v) => s + v, 0) / perImage.length, perImage };
}
