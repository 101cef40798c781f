import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FeatureNetwork,
  featureChannels,
  loadLpipsWeights,
  PerceptualLoss,
  perceptualDistance,
  perceptualLoss,
  unitNormalizeChannels,
} from '../src/index.js';
import { centralDiff, f32, randn } from './host.js';
import { writeF32Safetensors } from './write-safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'qlip-perceptual-'));
beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Toy backbone: layer 0 = 1x1 conv 3 -> 4 at full resolution; layer 1 = 2x2 average pool then 3 -> 2.
const A = Array.from(randn(31, 12)); // [3, 4]
const Bm = Array.from(randn(32, 6)); // [3, 2]
const toyNet: FeatureNetwork = {
  layers(x) {
    const [b, h, w] = x.shape;
    const pix = tf.reshape(x, [b * h * w, 3]); // [BHW, 3]
    const f0 = tf.reshape(tf.matMul(pix, tf.tensor2d(A, [3, 4])), [b, h, w, 4]) as tf.Tensor4D;
    const pooled = tf.avgPool(x, 2, 2, 'valid'); // [B, H/2, W/2, 3]
    const f1 = tf.reshape(tf.matMul(tf.reshape(pooled, [-1, 3]), tf.tensor2d(Bm, [3, 2])), [
      b,
      h / 2,
      w / 2,
      2,
    ]) as tf.Tensor4D;
    return [f0, f1];
  },
};

const N = 2;
const H = 4;

/** Float64 reference of the toy network plus the LPIPS-style distance, per image. */
function distanceHost(x: Float64Array, y: Float64Array, weights?: number[][]): number[] {
  const feats = (img: Float64Array) => {
    const f0: number[][] = []; // per pixel (b, i, j) -> 4
    const f1: number[][] = []; // per pooled pixel -> 2
    for (let b = 0; b < N; b++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < H; j++) {
          const p = [0, 1, 2].map((c) => img[((b * H + i) * H + j) * 3 + c]!);
          f0.push([0, 1, 2, 3].map((o) => p.reduce((s, v, c) => s + v * A[c * 4 + o]!, 0)));
        }
    for (let b = 0; b < N; b++)
      for (let i = 0; i < H / 2; i++)
        for (let j = 0; j < H / 2; j++) {
          const p = [0, 1, 2].map((c) => {
            let s = 0;
            for (const [di, dj] of [
              [0, 0],
              [0, 1],
              [1, 0],
              [1, 1],
            ] as const)
              s += img[((b * H + 2 * i + di) * H + 2 * j + dj) * 3 + c]!;
            return s / 4;
          });
          f1.push([0, 1].map((o) => p.reduce((s, v, c) => s + v * Bm[c * 2 + o]!, 0)));
        }
    return [f0, f1];
  };
  const unit = (v: number[]) => {
    const n = Math.sqrt(v.reduce((s, a) => s + a * a, 0)) + 1e-10;
    return v.map((a) => a / n);
  };
  const fx = feats(x);
  const fy = feats(y);
  const out = new Array(N).fill(0);
  for (let l = 0; l < 2; l++) {
    const per = fx[l]!.length / N;
    for (let p = 0; p < fx[l]!.length; p++) {
      const a = unit(fx[l]![p]!);
      const c = unit(fy[l]![p]!);
      const d = a.reduce((s, v, k) => s + (weights ? weights[l]![k]! : 1) * (v - c[k]!) ** 2, 0);
      out[Math.floor(p / per)] += d / per;
    }
  }
  return out;
}

const xs = randn(41, N * H * H * 3);
const ys = randn(42, N * H * H * 3);
const img = (v: Float64Array) => tf.tensor4d(f32(v), [N, H, H, 3]);

describe('perceptual loss', () => {
  it('unit-normalises over channels', () => {
    const n = tf.tidy(() => unitNormalizeChannels(tf.tensor4d([3, 4, 0, 0], [1, 1, 2, 2])).dataSync());
    expect([...n].map((v) => Math.round(v * 1e6) / 1e6)).toEqual([0.6, 0.8, 0, 0]);
  });

  it('uniform weights: matches the float64 reference per image, 0 for identical images', () => {
    const d = tf.tidy(() => perceptualDistance(toyNet, img(xs), img(ys)).dataSync());
    const ref = distanceHost(xs, ys);
    expect(d.length).toBe(N);
    ref.forEach((v, i) => {
      expect(d[i]).toBeCloseTo(v, 5);
    });
    expect(tf.tidy(() => perceptualLoss(toyNet, img(xs), img(ys)).dataSync()[0])).toBeCloseTo(
      (ref[0]! + ref[1]!) / 2,
      5,
    );
    expect(tf.tidy(() => perceptualLoss(toyNet, img(xs), img(xs)).dataSync()[0])).toBe(0);
  });

  it('LPIPS-format weights from safetensors are mapped onto the layers', async () => {
    const w = [
      [0.1, 0.5, 0, 2],
      [1.5, 0.25],
    ];
    const file = join(dir, 'lpips.safetensors');
    writeF32Safetensors(file, {
      'lin0.model.1.weight': { shape: [1, 4, 1, 1], data: w[0]! },
      'lin1.model.1.weight': { shape: [1, 2, 1, 1], data: w[1]! },
    });
    expect(featureChannels(toyNet, 8)).toEqual([4, 2]);
    const loss = await PerceptualLoss.withLpipsWeights(toyNet, file, 8);
    const got = tf.tidy(() => loss.compute(img(xs), img(ys)).dataSync()[0]!);
    const ref = distanceHost(
      xs,
      ys,
      w.map((r) => r.map(Math.fround)),
    );
    expect(got).toBeCloseTo((ref[0]! + ref[1]!) / 2, 5);
    loss.dispose();
  });

  it('gradient w.r.t. the reconstruction matches central differences of the reference', () => {
    const g = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor4D) => perceptualLoss(toyNet, x, img(ys)))(img(xs))
        .dataSync(),
    );
    const f = (x: Float64Array) => {
      const r = distanceHost(x, ys);
      return (r[0]! + r[1]!) / 2;
    };
    for (const k of [0, 5, 40, 77]) expect(g[k]).toBeCloseTo(centralDiff(f, xs, k), 4);
  });

  it('leaves no tensors behind beyond its output', () => {
    const x = img(xs);
    const y = img(ys);
    const before = tf.memory().numTensors;
    const l = perceptualLoss(toyNet, x, y);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, y, l]);
  });

  it('bad inputs and bad weight files are reported with the file and the expectation', async () => {
    expect(() => perceptualLoss(toyNet, img(xs), tf.zeros([N, H, H + 2, 3]) as tf.Tensor4D)).toThrow(
      /differ in shape/,
    );
    expect(() => perceptualLoss(toyNet, img(xs), img(ys), [tf.ones([4]) as tf.Tensor1D])).toThrow(
      /1 weight vectors for a network with 2 layers/,
    );
    expect(() =>
      perceptualLoss(toyNet, img(xs), img(ys), [tf.ones([4]), tf.ones([3])] as tf.Tensor1D[]),
    ).toThrow(/layer 1 has 2 channels, its weights 3/);

    const wrong = join(dir, 'wrong.safetensors');
    writeF32Safetensors(wrong, {
      'lin0.model.1.weight': { shape: [1, 4, 1, 1], data: [1, 1, 1, 1] },
      'lin1.model.1.weight': { shape: [1, 3, 1, 1], data: [1, 1, 1] },
    });
    await expect(loadLpipsWeights(wrong, [4, 2])).rejects.toThrow(
      /wrong\.safetensors: "lin1\.model\.1\.weight" has shape \[1,3,1,1\], expected \[1, 2, 1, 1\]/,
    );
    await expect(loadLpipsWeights(wrong, [4, 3, 8])).rejects.toThrow(
      /no tensor "lin2\.model\.1\.weight" for perceptual layer 2/,
    );
    const nan = join(dir, 'nan.safetensors');
    writeF32Safetensors(nan, { 'net.lin0.model.1.weight': { shape: [1, 2, 1, 1], data: [1, Number.NaN] } });
    await expect(loadLpipsWeights(nan, [2], (l) => `net.lin${l}.model.1.weight`)).rejects.toThrow(
      /NaN or Infinity/,
    );
  });
});
