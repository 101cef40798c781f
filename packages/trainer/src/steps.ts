import { decoder, quantEmbed, quantEmbedPost, quantize, visionEncoder } from '@qlip/encoder';
import {
  adaptiveGanWeight,
  ganActive,
  generatorLoss,
  type LossBalancer,
  type PatchGanDiscriminator,
  PerceptualLoss,
  reconstructionLoss,
  stage1Loss,
  stage2DiscriminatorLoss,
  stage2GeneratorLoss,
} from '@qlip/losses';
import type { QLIPModel } from '@qlip/model';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from './config.js';

/**
 * One micro-batch of each stage: forward, loss, gradients of the trainable variables. Every tensor made
 * here is disposed before returning except the gradients, which the caller owns.
 */

/** Gradients by parameter name plus the host values of every loss term and the weights used. */
export interface MicroStep {
  grads: Map<string, tf.Tensor>;
  terms: Record<string, number>;
  weights: Record<string, number>;
}

/** CLIP pixel statistics (the data pipeline normalises with them; stage 2 maps back to [0, 1]). */
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** `[B, 3, H, W]` CLIP-normalised -> `[B, H, W, 3]` in [0, 1] (unclamped) for perceptual and GAN terms. */
export function toUnitNhwc(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const nhwc = tf.transpose(x, [0, 2, 3, 1]); // [B, H, W, 3]
    return tf.add(tf.mul(nhwc, tf.tensor1d(CLIP_STD)), tf.tensor1d(CLIP_MEAN)) as tf.Tensor4D;
  });
}

/** The perceptual term on the first `n` image pairs only (its network is far heavier than the decoder). */
export class SubsetPerceptual extends PerceptualLoss {
  constructor(
    private readonly inner: PerceptualLoss,
    readonly images: number,
  ) {
    super(inner.net, inner.weights);
  }

  /** @param x `[B, H, W, 3]` in [0, 1] @param y same */
  override compute(x: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar {
    if (x.shape[0] <= this.images) return this.inner.compute(x, y);
    return tf.tidy(() => {
      const head = (t: tf.Tensor4D) => tf.slice(t, [0, 0, 0, 0], [this.images, -1, -1, -1]); // [n, H, W, 3]
      return this.inner.compute(head(x), head(y));
    });
  }
}

/** Gradient map of `f` w.r.t. `vars` keyed by parameter name (tf names variables itself). */
function gradsByName(
  f: () => tf.Scalar,
  vars: Map<string, tf.Variable>,
): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
  const list = [...vars.values()];
  const { value, grads } = tf.variableGrads(f, list);
  const out = new Map<string, tf.Tensor>();
  for (const [name, v] of vars) {
    const g = grads[v.name];
    if (!g) throw new Error(`trainer: no gradient for "${name}" (is it on the loss path?)`);
    out.set(name, g);
  }
  return { value, grads: out };
}

/**
 * Stage 1 on one micro-batch: vision tower once for both the bottleneck path (reconstruction, BSQ) and
 * the pooled image embedding, text tower on the captions.
 * @param pixels `[B, 3, S, S]` CLIP-normalised
 * @param ids `[B * ctx]` token ids
 */
export function stage1Micro(
  model: QLIPModel,
  trainable: Map<string, tf.Variable>,
  cfg: TrainConfig,
  pixels: tf.Tensor4D,
  ids: Int32Array,
  captions: string[],
  weighting: LossBalancer | { reconstruction: number; bsq: number; contrastive: number },
  injectNaN: boolean,
): MicroStep {
  const ctx = model.config.text_config.max_position_embeddings;
  const bsq = model.bsqLossOptions();
  let terms: Record<string, number> = {};
  let weights: Record<string, number> = {};
  const { value, grads } = gradsByName(() => {
    const out = model.stage1Outputs(pixels, ids, ctx);
    const r = stage1Loss(
      {
        ...out,
        reconstruction: injectNaN ? tf.mul(out.reconstruction, Number.NaN) : out.reconstruction,
        target: pixels,
        reconstructionKind: 'l2',
        bsq,
        captions,
        multiPositive: cfg.loss.stage1.contrastive === 'multiPositive',
      },
      weighting,
    );
    terms = r.terms;
    weights = r.weights;
    return r.total;
  }, trainable);
  value.dispose();
  return { grads, terms, weights };
}

export interface Stage2Parts {
  perceptual?: PerceptualLoss;
  discriminator?: PatchGanDiscriminator;
}

/**
 * Stage 2 generator side on one micro-batch. The frozen part (vision encoder, quant_embed, BSQ) runs
 * outside the gradient tape, so nothing upstream of the codes is even differentiated.
 * Returns the reconstructions `[B, H, W, 3]` in [0, 1] (detached) for the discriminator step.
 */
export function stage2Micro(
  model: QLIPModel,
  trainable: Map<string, tf.Variable>,
  cfg: TrainConfig,
  pixels: tf.Tensor4D,
  parts: Stage2Parts,
  step: number,
  injectNaN: boolean,
): MicroStep & { fake: tf.Tensor4D; real: tf.Tensor4D } {
  const p = model.params;
  const v = model.config.vision_config;
  const l = cfg.loss.stage2;
  const codes = tf.tidy(() => quantize(v, quantEmbed(p, v, visionEncoder(p, v, pixels).patchTokens))); // [B, N, L]
  const real = toUnitNhwc(pixels);
  const decode = () =>
    toUnitNhwc(decoder(p, model.config.decoder_config, quantEmbedPost(p, v, codes)) as tf.Tensor4D); // [B, H, W, 3]
  const adaptive =
    l.ganWeightMode === 'adaptive' && parts.discriminator !== undefined && ganActive(step, l.ganStart);
  const ganWeight = adaptive
    ? adaptiveWeight(p.get(LAST_DECODER_LAYER)!, decode, real, cfg, parts, l.ganWeight)
    : l.ganWeight;
  let terms: Record<string, number> = {};
  let weights: Record<string, number> = {};
  let fake: tf.Tensor4D | undefined;
  const { value, grads } = gradsByName(() => {
    const rec0 = decoder(p, model.config.decoder_config, quantEmbedPost(p, v, codes)); // [B, 3, S, S]
    const rec = toUnitNhwc((injectNaN ? tf.mul(rec0, Number.NaN) : rec0) as tf.Tensor4D);
    fake = tf.keep(tf.clone(rec));
    const r = stage2GeneratorLoss({
      reconstruction: rec,
      target: real,
      reconstructionKind: l.reconstruction,
      perceptual: parts.perceptual,
      perceptualWeight: l.perceptualWeight,
      discriminator: parts.discriminator,
      ganLoss: l.ganLoss,
      ganWeight,
      step,
      ganStart: l.ganStart,
    });
    terms = r.terms;
    weights = r.weights;
    return r.total;
  }, trainable);
  value.dispose();
  codes.dispose();
  return { grads, terms, weights, fake: fake!, real };
}

/** The decoder's last layer: VQGAN's adaptive GAN weight compares gradient norms on it. */
export const LAST_DECODER_LAYER = 'vision_decoder.conv_out.weight';

/**
 * VQGAN's adaptive weight for this step: gradients of the reconstruction (+ perceptual) loss and of the
 * generator loss w.r.t. the last decoder layer, each from its own pass (tfjs cannot take two gradients
 * from one tape), then `adaptiveGanWeight`.
 */
function adaptiveWeight(
  last: tf.Variable,
  decode: () => tf.Tensor4D,
  real: tf.Tensor4D,
  cfg: TrainConfig,
  parts: Stage2Parts,
  factor: number,
): number {
  const l = cfg.loss.stage2;
  const gradOf = (loss: (rec: tf.Tensor4D) => tf.Scalar) => {
    const { value, grads } = tf.variableGrads(() => loss(decode()), [last]);
    value.dispose();
    return grads[last.name]!;
  };
  const recGrad = gradOf((rec) =>
    tf.tidy(() => {
      const r = reconstructionLoss(l.reconstruction, rec, real);
      return (
        parts.perceptual ? tf.add(r, tf.mul(parts.perceptual.compute(rec, real), l.perceptualWeight)) : r
      ) as tf.Scalar;
    }),
  );
  const ganGrad = gradOf((rec) => generatorLoss(parts.discriminator!.forward(rec), l.ganLoss));
  try {
    return adaptiveGanWeight(recGrad, ganGrad, { factor });
  } finally {
    tf.dispose([recGrad, ganGrad]);
  }
}

/** Discriminator gradients on real images vs detached reconstructions (both `[B, H, W, 3]` in [0, 1]). */
export function discriminatorMicro(
  disc: PatchGanDiscriminator,
  cfg: TrainConfig,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  step: number,
): MicroStep {
  const l = cfg.loss.stage2;
  let terms: Record<string, number> = {};
  const vars = disc.params;
  const { value, grads } = gradsByName(() => {
    const r = stage2DiscriminatorLoss(disc, real, fake, l.ganLoss, step, l.ganStart);
    terms = r.terms;
    return r.total;
  }, vars);
  value.dispose();
  return { grads, terms, weights: {} };
}

/** Parameter names stage 2 fine-tunes: quant_embed_post and the pixel decoder. */
export function isStage2Trainable(name: string): boolean {
  return name.startsWith('vision_model.quant_embed_post.') || name.startsWith('vision_decoder.');
}
