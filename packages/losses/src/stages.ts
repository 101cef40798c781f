import { type BsqLossOptions, bsqLoss } from '@qlip/bsq';
import * as tf from '@tensorflow/tfjs-core';
import { discriminatorLoss, type GanLossKind, ganActive, generatorLoss } from './adversarial.js';
import type { LossBalancer } from './balancer.js';
import { infoNce } from './contrastive.js';
import type { PatchGanDiscriminator } from './discriminator.js';
import type { PerceptualLoss } from './perceptual.js';
import { type ReconstructionKind, reconstructionLoss } from './reconstruction.js';

/** Total tensor for the backward pass plus every term as a host number for logging. */
export interface LossResult<T extends string> {
  /** Keep it (the caller's gradient function returns it); nothing else is left allocated. */
  total: tf.Scalar;
  terms: Record<T, number>;
  weights: Record<string, number>;
}

export type Stage1Term =
  | 'total'
  | 'reconstruction'
  | 'bsq'
  | 'bsqCommit'
  | 'persampleEntropy'
  | 'codebookEntropy'
  | 'contrastive'
  | 'logitScale';

export interface Stage1Inputs {
  /** `[B, H, W, 3]` decoder output */
  reconstruction: tf.Tensor;
  /** `[B, H, W, 3]` input images */
  target: tf.Tensor;
  /** default `l2` (QLIP stage 1 uses MSE) */
  reconstructionKind?: ReconstructionKind;
  /** `[..., L]` quantizer input */
  z: tf.Tensor;
  bsq: BsqLossOptions;
  /** `[B, D]` */
  imageEmbeddings: tf.Tensor2D;
  /** `[B, D]` */
  textEmbeddings: tf.Tensor2D;
  /** scalar, learnable */
  logitScale: tf.Scalar;
  /** Captions per item; with `multiPositive` identical captions are positives. */
  captions?: readonly string[];
  multiPositive?: boolean;
}

function hostValues(named: Record<string, tf.Scalar>): Record<string, number> {
  const names = Object.keys(named);
  const stacked = tf.stack(names.map((n) => named[n]!));
  const vals = stacked.dataSync();
  stacked.dispose();
  return Object.fromEntries(names.map((n, i) => [n, vals[i]!]));
}

/**
 * Stage 1: w_rec * rec + w_bsq * bsq + w_con * contrastive. Weights come from the balancer (updated
 * with this step's values, then applied; they are constants for the backward pass) or are given.
 * Call inside the gradient function (`tf.variableGrads(() => stage1Loss(...).total)`): it reads the
 * three term values to the host once, which the balancer needs anyway.
 */
export function stage1Loss(
  inp: Stage1Inputs,
  weighting: LossBalancer | { reconstruction: number; bsq: number; contrastive: number },
): LossResult<Stage1Term> {
  let terms: Record<string, number> = {};
  let weights: Record<string, number> = {};
  const total = tf.tidy(() => {
    const rec = reconstructionLoss(inp.reconstructionKind ?? 'l2', inp.reconstruction, inp.target);
    const bsq = bsqLoss(inp.z, inp.bsq);
    const con = infoNce(inp.imageEmbeddings, inp.textEmbeddings, inp.logitScale, {
      multiPositive: inp.multiPositive,
      captions: inp.captions,
    });
    const v = hostValues({
      reconstruction: rec,
      bsq: bsq.loss,
      bsqCommit: bsq.commit,
      persampleEntropy: bsq.persampleEntropy,
      codebookEntropy: bsq.codebookEntropy,
      contrastive: con.loss,
      logitScale: con.scale,
    });
    weights =
      'update' in weighting
        ? weighting.update({ reconstruction: v.reconstruction!, bsq: v.bsq!, contrastive: v.contrastive! })
        : { ...weighting };
    const parts = [
      tf.mul(rec, weights.reconstruction ?? 0),
      tf.mul(bsq.loss, weights.bsq ?? 0),
      tf.mul(con.loss, weights.contrastive ?? 0),
    ];
    const t = tf.addN(parts) as tf.Scalar;
    terms = {
      ...v,
      total:
        (weights.reconstruction ?? 0) * v.reconstruction! +
        (weights.bsq ?? 0) * v.bsq! +
        (weights.contrastive ?? 0) * v.contrastive!,
    };
    return t;
  });
  return { total, terms: terms as Record<Stage1Term, number>, weights };
}

export type Stage2Term = 'total' | 'reconstruction' | 'perceptual' | 'generator' | 'ganWeight';

export interface Stage2Inputs {
  /** `[B, H, W, 3]` decoder output in [0, 1] (the perceptual network's range; convert a [-1, 1] or mean/std-normalised output first) */
  reconstruction: tf.Tensor4D;
  /** `[B, H, W, 3]` in [0, 1] */
  target: tf.Tensor4D;
  /** default `l1` */
  reconstructionKind?: ReconstructionKind;
  perceptual?: PerceptualLoss;
  perceptualWeight: number;
  discriminator?: PatchGanDiscriminator;
  ganLoss: GanLossKind;
  /** Fixed GAN weight, or the value `adaptiveGanWeight` gave this step. */
  ganWeight: number;
  step: number;
  /** Before this step the generator term is 0 (and not computed). */
  ganStart: number;
}

/**
 * Stage 2 generator side: rec + w_p * perceptual + w_g * generator (w_g = 0 before `ganStart`).
 * Terms that are switched off are reported as 0.
 */
export function stage2GeneratorLoss(inp: Stage2Inputs): LossResult<Stage2Term> {
  let terms: Record<string, number> = {};
  const active = inp.discriminator !== undefined && ganActive(inp.step, inp.ganStart);
  const weights = {
    reconstruction: 1,
    perceptual: inp.perceptual ? inp.perceptualWeight : 0,
    generator: active ? inp.ganWeight : 0,
  };
  const total = tf.tidy(() => {
    const named: Record<string, tf.Scalar> = {
      reconstruction: reconstructionLoss(inp.reconstructionKind ?? 'l1', inp.reconstruction, inp.target),
    };
    if (inp.perceptual) named.perceptual = inp.perceptual.compute(inp.reconstruction, inp.target);
    if (active) named.generator = generatorLoss(inp.discriminator!.forward(inp.reconstruction), inp.ganLoss);
    const v = hostValues(named);
    const t = tf.addN(
      Object.entries(named).map(([k, s]) => tf.mul(s, weights[k as keyof typeof weights])),
    ) as tf.Scalar;
    terms = {
      reconstruction: v.reconstruction!,
      perceptual: v.perceptual ?? 0,
      generator: v.generator ?? 0,
      ganWeight: weights.generator,
    };
    terms.total =
      terms.reconstruction! + weights.perceptual * terms.perceptual! + weights.generator * terms.generator!;
    return t;
  });
  return { total, terms: terms as Record<Stage2Term, number>, weights };
}

export type DiscriminatorTerm = 'total' | 'realLogit' | 'fakeLogit';

/**
 * Stage 2 discriminator side: D loss on real images and reconstructions, 0 before `ganStart`
 * (VQGAN's disc_start applies to both players). Take gradients w.r.t. `disc.variables()` only
 * (`tf.variableGrads(f, disc.variables())`), so nothing flows into the generator.
 * @param real `[B, H, W, 3]` @param fake `[B, H, W, 3]` reconstructions
 */
export function stage2DiscriminatorLoss(
  disc: PatchGanDiscriminator,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  kind: GanLossKind,
  step: number,
  ganStart: number,
): LossResult<DiscriminatorTerm> {
  let terms: Record<string, number> = {};
  const active = ganActive(step, ganStart);
  const total = tf.tidy(() => {
    if (!active) {
      terms = { total: 0, realLogit: 0, fakeLogit: 0 };
      return tf.scalar(0);
    }
    const realLogits = disc.forward(real);
    const fakeLogits = disc.forward(fake);
    const loss = discriminatorLoss(realLogits, fakeLogits, kind);
    const v = hostValues({
      total: loss,
      realLogit: tf.mean(realLogits) as tf.Scalar,
      fakeLogit: tf.mean(fakeLogits) as tf.Scalar,
    });
    terms = v;
    return loss;
  });
  return {
    total,
    terms: terms as Record<DiscriminatorTerm, number>,
    weights: { discriminator: active ? 1 : 0 },
  };
}
