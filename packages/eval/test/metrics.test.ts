import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, test } from 'vitest';
import {
  FeatureStatsAccumulator,
  featureStats,
  frechetDistance,
  gaussianTaps,
  type Image,
  psnr,
  psnrSet,
  ssim,
} from '../src/index.js';

const img = (h: number, w: number, c: number, f: (i: number) => number): Image => ({
  data: Float64Array.from({ length: h * w * c }, (_, i) => f(i)),
  height: h,
  width: w,
  channels: c,
});

describe('PSNR', () => {
  test('exact value from a known MSE', () => {
    // Every sample off by 5: MSE 25, PSNR = 10 log10(255^2 / 25).
    const a = img(4, 4, 3, () => 100);
    const b = img(4, 4, 3, () => 105);
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10(65025 / 25), 12);
  });
  test('identical images give Infinity, and so does a set containing them', () => {
    const a = img(2, 2, 1, (i) => i);
    expect(psnr(a, a)).toBe(Number.POSITIVE_INFINITY);
    expect(psnrSet([a], [a]).mean).toBe(Number.POSITIVE_INFINITY);
  });
  test('bad input names the problem', () => {
    expect(() =>
      psnr(
        img(2, 2, 1, () => 0),
        img(2, 3, 1, () => 0),
      ),
    ).toThrow(/shapes differ/);
    expect(() =>
      psnr(
        { data: [1, 2], height: 2, width: 2, channels: 1 },
        img(2, 2, 1, () => 0),
      ),
    ).toThrow(/data has 2 values/);
    expect(() => psnrSet([], [])).toThrow(/non-zero number/);
  });
});

describe('SSIM', () => {
  test('identical images score 1', () => {
    const a = img(16, 16, 3, (i) => (i * 37) % 256);
    expect(ssim(a, a)).toBeCloseTo(1, 14);
  });
  test('window taps: 11 taps, sigma 1.5, sum 1, symmetric', () => {
    const t = gaussianTaps(1.5, 5);
    expect(t).toHaveLength(11);
    expect(t.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 15);
    expect(t[0]).toBe(t[10]);
    expect(t[5] / t[4]).toBeCloseTo(Math.exp(0.5 / 2.25), 14);
  });
  test('too small for the window', () => {
    expect(() =>
      ssim(
        img(10, 20, 1, () => 0),
        img(10, 20, 1, () => 0),
      ),
    ).toThrow(/smaller than the 11x11 window/);
  });
});

describe('Frechet distance', () => {
  test('streaming statistics equal one-shot statistics, also with a large offset', () => {
    const n = 50;
    const d = 3;
    const data = Float64Array.from({ length: n * d }, (_, i) => 1e6 + Math.sin(i * 1.7) * 3 + (i % d));
    const acc = new FeatureStatsAccumulator(d);
    acc.add(data.subarray(0, 7 * d));
    acc.add(data.subarray(7 * d));
    const s = acc.stats();
    // Two-pass reference.
    const mean = [0, 0, 0];
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j] / n;
    for (let j = 0; j < d; j++) {
      expect(s.mean[j]).toBeCloseTo(mean[j], 6);
      for (let k = 0; k < d; k++) {
        let c = 0;
        for (let i = 0; i < n; i++) c += (data[i * d + j] - mean[j]) * (data[i * d + k] - mean[k]);
        expect(s.cov[j * d + k]).toBeCloseTo(c / (n - 1), 8);
      }
    }
  });
  test('1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2', () => {
    const a = { data: [1, 3], n: 2, dim: 1 }; // mean 2, var 2
    const b = { data: [0, 8], n: 2, dim: 1 }; // mean 4, var 32
    expect(frechetDistance(a, b)).toBeCloseTo(4 + (Math.sqrt(2) - Math.sqrt(32)) ** 2, 12);
    expect(featureStats(b).cov[0]).toBe(32);
  });
  test('bad input', () => {
    expect(() =>
      frechetDistance({ data: [1, 2], n: 2, dim: 1 }, { data: [1, 2, 3, 4], n: 2, dim: 2 }),
    ).toThrow(/dims differ/);
    expect(() => featureStats({ data: [1], n: 1, dim: 1 })).toThrow(/at least 2 rows/);
    expect(() => new FeatureStatsAccumulator(2).add([1, 2, 3])).toThrow(/whole number of 2-d rows/);
  });
});
