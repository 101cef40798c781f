import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bsqEntropy,
  bsqLoss,
  bsqQuantize,
  codesToGroupIndices,
  codesToIndices,
  fromOfficialQuantizerCfg,
  indicesToCodes,
  l2Normalize,
} from '../src/index.js';

/** Independent float64 host implementation of the reference entropies, written from the formulas. */
function hostEntropy(
  z: number[][],
  groupSize: number,
  invT: number,
  l2: boolean,
  mode: 'group' | 'analytical',
) {
  const L = z[0]!.length;
  const scale = l2 ? 1 / Math.sqrt(L) : 1;
  const H = (p: number[]) => p.reduce((a, v) => a - v * Math.log(v + 1e-8), 0);
  const probs: number[][][] = z.map((row) => {
    if (mode === 'analytical') {
      return row.map((v) => {
        const p = 1 / (1 + Math.exp(4 * scale * invT * v));
        return [p, 1 - p];
      });
    }
    const out: number[][] = [];
    for (let g = 0; g < L / groupSize; g++) {
      const logits: number[] = [];
      for (let d = 0; d < 2 ** groupSize; d++) {
        let dot = 0;
        for (let j = 0; j < groupSize; j++) {
          const bit = (d >> (groupSize - 1 - j)) & 1;
          dot += row[g * groupSize + j]! * (bit ? scale : -scale);
        }
        logits.push(2 * invT * dot);
      }
      const m = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      out.push(e.map((v) => v / s));
    }
    return out;
  });
  const persample = probs.reduce((a, tok) => a + tok.reduce((b, p) => b + H(p), 0), 0) / probs.length;
  let codebook = 0;
  for (let g = 0; g < probs[0]!.length; g++) {
    const k = probs[0]![g]!.length;
    const avg = new Array(k).fill(0);
    for (const tok of probs) for (let d = 0; d < k; d++) avg[d] += tok[g]![d]! / probs.length;
    codebook += H(avg);
  }
  return { persample, codebook };
}

function randomRows(n: number, L: number, seed: number): number[][] {
  let s = seed;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
  return Array.from({ length: n }, () => Array.from({ length: L }, rnd));
}

describe.each(['wasm', 'cpu'])('entropy modes against a float64 host implementation (%s)', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it.each([
    { mode: 'group' as const, groupSize: 3, invT: 10, l2: true },
    { mode: 'group' as const, groupSize: 2, invT: 1, l2: false },
    { mode: 'analytical' as const, groupSize: 6, invT: 5, l2: true },
    { mode: 'analytical' as const, groupSize: 6, invT: 1, l2: false },
  ])('$mode g=$groupSize invT=$invT l2=$l2', async ({ mode, groupSize, invT, l2 }) => {
    const rows = randomRows(10, 6, 7);
    const ref = hostEntropy(rows, groupSize, invT, l2, mode);
    const z = tf.tensor2d(rows);
    const { persample, codebook } = bsqEntropy(z, { mode, groupSize, invTemperature: invT, l2Norm: l2 });
    expect((await persample.data())[0]).toBeCloseTo(ref.persample, 5);
    expect((await codebook.data())[0]).toBeCloseTo(ref.codebook, 5);
    tf.dispose([z, persample, codebook]);
  });

  it('commitment term: beta * mean over tokens of the squared distance to the scaled code', async () => {
    const rows = [
      [0.6, -0.8],
      [-0.3, 0],
    ];
    const z = tf.tensor2d(rows);
    const s = 1 / Math.sqrt(2);
    const expected = (0.5 * ((0.6 - s) ** 2 + (-0.8 + s) ** 2 + (-0.3 + s) ** 2 + (0 + s) ** 2)) / 1; // mean of 2 token sums
    const t = bsqLoss(z, {
      mode: 'group',
      groupSize: 1,
      invTemperature: 1,
      l2Norm: true,
      beta: 1,
      gamma0: 0,
      gamma1: 0,
      zeta: 1,
    });
    expect((await t.commit.data())[0]).toBeCloseTo(expected, 6);
    expect((await t.loss.data())[0]).toBeCloseTo(expected, 6);
    tf.dispose([z, t.loss, t.commit, t.persampleEntropy, t.codebookEntropy]);
  });
});

describe('fromOfficialQuantizerCfg', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('maps the official quantizer_cfg and validates it', () => {
    const cfg = fromOfficialQuantizerCfg({ embed_dim: 28, group_size: 7 });
    expect(cfg).toMatchObject({
      bits: 28,
      groupSize: 7,
      beta: 0,
      gamma0: 1,
      gamma1: 1,
      zeta: 1,
      mode: 'group',
    });
    // QLIP's BinarySphericalQuantizer defaults (not BSQ-ViT's): unit-sphere codes, inverse temperature 100.
    expect(cfg).toMatchObject({ l2Norm: true, invTemperature: 100 });
    expect(fromOfficialQuantizerCfg({ embed_dim: 18 }).groupSize).toBe(9);
    expect(() => fromOfficialQuantizerCfg({ embed_dim: 10, group_size: 4 })).toThrow(
      /divisible by group_size/,
    );
    expect(() => fromOfficialQuantizerCfg({ embed_dim: 8, persample_entropy_compute: 'x' })).toThrow(
      /"group" or "analytical"/,
    );
  });

  it('a mapped config quantizes, indexes and looks codes back up', async () => {
    const cfg = fromOfficialQuantizerCfg({ embed_dim: 4, group_size: 2, l2_norm: true });
    const z = l2Normalize(tf.tensor2d([[0.3, -0.2, 0.1, -0.5]]));
    const zq = bsqQuantize(z, cfg);
    expect(Array.from(await zq.data())).toEqual([0.5, -0.5, 0.5, -0.5]);
    const terms = bsqLoss(z, cfg);
    expect(Number.isFinite((await terms.loss.data())[0])).toBe(true);
    const idx = codesToIndices(await z.data(), cfg.bits);
    expect(Array.from(idx)).toEqual([0b1010]);
    expect(Array.from(codesToGroupIndices(await z.data(), cfg.bits, cfg.groupSize))).toEqual([0b10, 0b10]);
    expect(Array.from(indicesToCodes(idx, cfg.bits, 0.5))).toEqual([0.5, -0.5, 0.5, -0.5]);
  });
});
