import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '@qlip/core';
import { describe, expect, test } from 'vitest';
import {
  featureStats,
  frechetDistance,
  frechetDistanceFromStats,
  type Image,
  psnr,
  psnrSet,
  ssim,
} from '../src/index.js';

const dir = join(import.meta.dirname, 'fixtures');
const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as {
  images: { name: string; shape: number[]; ssim: number; psnr: number }[];
  frechet: { a: string; b: string; fd_scipy_sqrtm: number; fd_eigh: number; fd_nuclear: number }[];
};

async function image(name: string): Promise<Image> {
  const a = await readNpy(join(dir, `${name}.npy`));
  const [height, width, channels] = a.shape;
  return { data: a.data as Uint8Array, height, width, channels };
}

async function features(name: string) {
  const a = await readNpy(join(dir, `feat_${name}.npy`));
  return { data: a.data as Float32Array, n: a.shape[0], dim: a.shape[1] };
}

describe('PSNR and SSIM against scikit-image 0.19.3', () => {
  for (const g of golden.images) {
    test(g.name, async () => {
      const a = await image(`img_${g.name}_a`);
      const b = await image(`img_${g.name}_b`);
      expect([a.height, a.width, a.channels]).toEqual(g.shape);
      expect(Math.abs(psnr(a, b) - g.psnr)).toBeLessThan(1e-10);
      expect(Math.abs(ssim(a, b) - g.ssim)).toBeLessThan(1e-10);
      // Order of arguments does not matter for either metric.
      expect(Math.abs(ssim(b, a) - g.ssim)).toBeLessThan(1e-10);
    });
  }

  test('set PSNR is the mean of per-image PSNRs', async () => {
    const as = await Promise.all(golden.images.map((g) => image(`img_${g.name}_a`)));
    const bs = await Promise.all(golden.images.map((g) => image(`img_${g.name}_b`)));
    const { mean, perImage } = psnrSet(as, bs);
    const want = golden.images.reduce((s, g) => s + g.psnr, 0) / golden.images.length;
    expect(Math.abs(mean - want)).toBeLessThan(1e-10);
    expect(perImage).toHaveLength(golden.images.length);
  });
});

describe('Frechet distance against the scipy.linalg.sqrtm formula (pytorch-fid)', () => {
  for (const g of golden.frechet) {
    test(`${g.a} vs ${g.b}`, async () => {
      const a = await features(g.a);
      const b = await features(g.b);
      const fromStats = frechetDistanceFromStats(featureStats(a), featureStats(b));
      const direct = frechetDistance(a, b);
      // Absolute tolerance scaled by the size of the terms that cancel (traces ~ dim).
      const tol = 1e-10 * a.dim;
      expect(Math.abs(fromStats - g.fd_nuclear)).toBeLessThan(tol);
      expect(Math.abs(direct - g.fd_nuclear)).toBeLessThan(tol);
      if (Math.max(a.n, b.n) > a.dim) {
        expect(Math.abs(fromStats - g.fd_scipy_sqrtm)).toBeLessThan(tol);
        expect(Math.abs(fromStats - g.fd_eigh)).toBeLessThan(tol);
      } else {
        // Both covariances singular: sqrtm and plain eigh take square roots of round-off eigenvalues,
        // which moves them by ~1e-6 here; the exact nuclear-norm reference is the one to match.
        expect(Math.abs(fromStats - g.fd_scipy_sqrtm)).toBeLessThan(2e-6);
      }
    });
  }
});
