import { Rng, selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BsqLossOptions,
  bsqLoss,
  discriminatorLoss,
  type FeatureNetwork,
  generatorLoss,
  infoNce,
  LossBalancer,
  l1Loss,
  l2Loss,
  PatchGanDiscriminator,
  PerceptualLoss,
  perceptualLoss,
  stage1Loss,
  stage2DiscriminatorLoss,
  stage2GeneratorLoss,
} from '../src/index.js';
import { f32, randn } from './host.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

const bsqOpts: BsqLossOptions = {
  groupSize: 2,
  invTemperature: 100,
  l2Norm: true,
  mode: 'group',
  beta: 0.25,
  gamma0: 1,
  gamma1: 1,
  zeta: 1,
};
const captions = ['a cat', 'a dog', 'a cat', 'a car'];

function stage1Tensors(seed: number) {
  return {
    reconstruction: tf.tensor4d(f32(randn(seed, 4 * 4 * 4 * 3)), [4, 4, 4, 3]),
    target: tf.tensor4d(f32(randn(seed + 1, 4 * 4 * 4 * 3)), [4, 4, 4, 3]),
    z: tf.tensor3d(f32(randn(seed + 2, 4 * 3 * 6)), [4, 3, 6]),
    imageEmbeddings: tf.tensor2d(f32(randn(seed + 3, 4 * 5)), [4, 5]),
    textEmbeddings: tf.tensor2d(f32(randn(seed + 4, 4 * 5)), [4, 5]),
    logitScale: tf.scalar(2.6592),
  };
}

function scalar(f: () => tf.Scalar): number {
  return tf.tidy(() => f().dataSync()[0]!);
}

describe('stage1Loss', () => {
  it('fixed weights: total = sum of weighted terms, every term reported, only the total left allocated', () => {
    const t = stage1Tensors(1);
    const w = { reconstruction: 1, bsq: 0.1, contrastive: 0.02 };
    const rec = scalar(() => l2Loss(t.reconstruction, t.target));
    const bsq = tf.tidy(() => {
      const r = bsqLoss(t.z, bsqOpts);
      return [r.loss, r.commit, r.persampleEntropy, r.codebookEntropy].map((s) => s.dataSync()[0]!);
    });
    const con = scalar(
      () =>
        infoNce(t.imageEmbeddings, t.textEmbeddings, t.logitScale, { multiPositive: true, captions }).loss,
    );
    const before = tf.memory().numTensors;
    const r = stage1Loss({ ...t, bsq: bsqOpts, captions, multiPositive: true }, w);
    expect(tf.memory().numTensors).toBe(before + 1);
    const expected = rec + 0.1 * bsq[0]! + 0.02 * con;
    expect(r.total.dataSync()[0]).toBeCloseTo(expected, 5);
    expect(r.terms.total).toBeCloseTo(expected, 5);
    expect(r.terms.reconstruction).toBeCloseTo(rec, 6);
    expect(r.terms.bsq).toBeCloseTo(bsq[0]!, 6);
    expect(r.terms.bsqCommit).toBeCloseTo(bsq[1]!, 6);
    expect(r.terms.persampleEntropy).toBeCloseTo(bsq[2]!, 6);
    expect(r.terms.codebookEntropy).toBeCloseTo(bsq[3]!, 6);
    expect(r.terms.contrastive).toBeCloseTo(con, 6);
    expect(r.terms.logitScale).toBeCloseTo(Math.exp(2.6592), 3);
    expect(r.weights).toEqual(w);
    r.total.dispose();
    tf.dispose(Object.values(t));
  });

  it("with a balancer: weights come from this step's values, BSQ stays fixed, gradients reach every input", () => {
    const t = stage1Tensors(7);
    const bal = new LossBalancer({
      mode: 'dynamic',
      balanced: ['reconstruction', 'contrastive'],
      fixed: { bsq: 0.5 },
      total: 2,
      decay: 0.99,
    });
    const vars = {
      rec: tf.variable(t.reconstruction),
      img: tf.variable(t.imageEmbeddings),
      ls: tf.variable(t.logitScale),
      z: tf.variable(t.z),
    };
    let terms: Record<string, number> = {};
    let weights: Record<string, number> = {};
    const { value, grads } = tf.variableGrads(() => {
      const r = stage1Loss(
        {
          ...t,
          reconstruction: vars.rec,
          imageEmbeddings: vars.img as tf.Tensor2D,
          logitScale: vars.ls as tf.Scalar,
          z: vars.z,
          bsq: bsqOpts,
        },
        bal,
      );
      terms = r.terms;
      weights = r.weights;
      return r.total;
    }, Object.values(vars));
    const inv = [1 / terms.reconstruction!, 1 / terms.contrastive!];
    expect(weights.reconstruction).toBeCloseTo((2 * inv[0]!) / (inv[0]! + inv[1]!), 6);
    expect(weights.contrastive).toBeCloseTo((2 * inv[1]!) / (inv[0]! + inv[1]!), 6);
    expect(weights.bsq).toBe(0.5);
    expect(bal.state.step).toBe(1);
    expect(value.dataSync()[0]).toBeCloseTo(terms.total!, 5);
    for (const g of Object.values(grads))
      expect(tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads), ...Object.values(vars), ...Object.values(t)]);
  });
});

// Fixed toy backbone for the perceptual term: one 1x1 conv 3 -> 4.
const toyNet: FeatureNetwork = {
  layers: (x) => [
    tf.reshape(tf.matMul(tf.reshape(x, [-1, 3]), tf.tensor2d(Array.from(randn(5, 12)), [3, 4])), [
      ...x.shape.slice(0, 3),
      4,
    ]) as tf.Tensor4D,
  ],
};

describe('stage 2', () => {
  const cfg = { inChannels: 3, baseChannels: 4, downsamples: 2, slope: 0.2, initStd: 0.1 };

  it('generator side: rec + w_p * perceptual, plus w_g * generator from the start step on', () => {
    const disc = PatchGanDiscriminator.create(new Rng(3), cfg);
    const perc = new PerceptualLoss(toyNet);
    const rec = tf.tensor4d(f32(randn(51, 2 * 16 * 16 * 3).map((v) => 0.5 + 0.2 * v)), [2, 16, 16, 3]);
    const tgt = tf.tensor4d(f32(randn(52, 2 * 16 * 16 * 3).map((v) => 0.5 + 0.2 * v)), [2, 16, 16, 3]);
    const l1 = scalar(() => l1Loss(rec, tgt));
    const p = scalar(() => perceptualLoss(toyNet, rec, tgt));
    const g = scalar(() => generatorLoss(disc.forward(rec), 'hinge'));
    const base = {
      reconstruction: rec,
      target: tgt,
      perceptual: perc,
      perceptualWeight: 0.1,
      discriminator: disc,
      ganLoss: 'hinge' as const,
      ganWeight: 0.3,
      ganStart: 10,
    };

    const early = stage2GeneratorLoss({ ...base, step: 9 });
    expect(early.terms.generator).toBe(0);
    expect(early.terms.ganWeight).toBe(0);
    expect(early.total.dataSync()[0]).toBeCloseTo(l1 + 0.1 * p, 5);
    const late = stage2GeneratorLoss({ ...base, step: 10 });
    expect(late.terms.generator).toBeCloseTo(g, 6);
    expect(late.terms.perceptual).toBeCloseTo(p, 6);
    expect(late.total.dataSync()[0]).toBeCloseTo(l1 + 0.1 * p + 0.3 * g, 5);
    expect(late.terms.total).toBeCloseTo(l1 + 0.1 * p + 0.3 * g, 5);

    // Gradient reaches the reconstruction through all three terms, and none goes to D here.
    const grad = tf.grad(
      (x: tf.Tensor4D) => stage2GeneratorLoss({ ...base, reconstruction: x, step: 10 }).total,
    )(rec);
    expect(tf.tidy(() => tf.sum(tf.abs(grad)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose([early.total, late.total, grad, rec, tgt]);
    disc.dispose();
  });

  it('discriminator side: 0 before the start step, the D loss after, gradients for D only', () => {
    const disc = PatchGanDiscriminator.create(new Rng(4), cfg);
    const real = tf.tensor4d(f32(randn(61, 2 * 16 * 16 * 3)), [2, 16, 16, 3]);
    const fake = tf.tensor4d(f32(randn(62, 2 * 16 * 16 * 3)), [2, 16, 16, 3]);
    const off = stage2DiscriminatorLoss(disc, real, fake, 'nonSaturating', 0, 5);
    expect(off.total.dataSync()[0]).toBe(0);
    expect(off.terms.total).toBe(0);
    const ref = scalar(() => discriminatorLoss(disc.forward(real), disc.forward(fake), 'nonSaturating'));
    const { value, grads } = tf.variableGrads(
      () => stage2DiscriminatorLoss(disc, real, fake, 'nonSaturating', 5, 5).total,
      disc.variables(),
    );
    expect(value.dataSync()[0]).toBeCloseTo(ref, 6);
    expect(Object.keys(grads).length).toBe(disc.variables().length);
    const on = stage2DiscriminatorLoss(disc, real, fake, 'nonSaturating', 6, 5);
    expect(on.terms.total).toBeCloseTo(ref, 6);
    expect(on.terms.realLogit).toBeCloseTo(
      scalar(() => tf.mean(disc.forward(real)) as tf.Scalar),
      6,
    );
    tf.dispose([off.total, on.total, value, ...Object.values(grads), real, fake]);
    disc.dispose();
  });
});
