import { CLIP_MEAN, CLIP_STD } from '@qlip/core';
import type { Batch } from '@qlip/data';
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
import { variableGradsFreeing } from './backward.js';
import type { TrainConfig } from './config.js';
import { type GradientAccumulator, gradientsOf } from './gradients.js';
import type { MicroBatch, MicroContext } from './loop.js';

/**
 * One micro-batch of each QLIP stage for the generic loop: the tensors made from the host batch, the
 * frozen forwards (outside the tape), and the loss the loop differentiates. Everything made here is
 * disposed by the returned `dispose`.
 */

/** `[B, 3, H, W]` CLIP-normalised -> `[B, H, W, 3]` in [0, 1] (unclamped) for perceptual and GAN terms. */
export function toUnitNhwc(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const nhwc = tf.transpose(x, [0, 2, 3, 1]); // [B, H, W, 3]
    // The data pipeline normalised with core's CLIP statistics; stage 2 maps back to [0, 1].
    return tf.add(tf.mul(nhwc, tf.tensor1d([...CLIP_STD])), tf.tensor1d([...CLIP_MEAN])) as tf.Tensor4D;
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

/** The fixed weights of stage 1, or the balancer that sets them. */
export type Stage1Weighting = LossBalancer | { reconstruction: number; bsq: number; contrastive: number };

/**
 * Stage 1 on one micro-batch: vision tower once for both the bottleneck path (reconstruction, BSQ) and
 * the pooled image embedding, text tower on the captions.
 * @param ids `[B * ctx]` token ids of the batch's captions
 */
export function stage1MicroBatch(
  model: QLIPModel,
  cfg: TrainConfig,
  batch: Batch,
  ids: Int32Array,
  weighting: Stage1Weighting,
  context: MicroContext,
): MicroBatch {
  const contextLength = model.config.text_config.max_position_embeddings;
  const bsq = model.bsqLossOptions();
  const injectNaN = cfg.debug.nanAtStep === context.step;
  const pixels = tf.tensor4d(batch.images, batch.shape); // [B, 3, S, S] CLIP-normalised
  return {
    loss: () => {
      const out = model.stage1Outputs(pixels, ids, contextLength);
      return stage1Loss(
        {
          ...out,
          reconstruction: injectNaN ? tf.mul(out.reconstruction, Number.NaN) : out.reconstruction,
          target: pixels,
          reconstructionKind: 'l2',
          bsq,
          captions: batch.captions,
          multiPositive: cfg.loss.stage1.contrastive === 'multiPositive',
        },
        weighting,
      );
    },
    dispose: () => pixels.dispose(),
  };
}

/** The stage-2 networks besides the model: perceptual CNN and the discriminator with its gradient sums. */
export interface Stage2Parts {
  perceptual?: PerceptualLoss;
  discriminator?: PatchGanDiscriminator;
  /** Where the discriminator's micro-batch gradients are summed (with `discriminator`). */
  discriminatorGradients?: GradientAccumulator;
}

/**
 * Stage 2 generator side on one micro-batch. The frozen part (vision encoder, quant_embed, BSQ) runs
 * outside the gradient tape, so nothing upstream of the codes is even differentiated; after the
 * generator's gradients, the discriminator's are taken on real images vs the detached reconstructions.
 */
export function stage2MicroBatch(
  model: QLIPModel,
  cfg: TrainConfig,
  batch: Batch,
  parts: Stage2Parts,
  context: MicroContext,
): MicroBatch {
  const settings = cfg.loss.stage2;
  const step = context.step;
  const injectNaN = cfg.debug.nanAtStep === step;
  const gan = parts.discriminator !== undefined && ganActive(step, settings.ganStart);
  const pixels = tf.tensor4d(batch.images, batch.shape); // [B, 3, S, S] CLIP-normalised
  const codes = model.encodeCodes(pixels); // [B, N, L]
  const real = toUnitNhwc(pixels); // [B, H, W, 3]
  const held: tf.Tensor[] = [pixels, codes, real];
  const dispose = () => tf.dispose(held);
  let ganWeight = settings.ganWeight;
  try {
    if (gan && settings.ganWeightMode === 'adaptive')
      ganWeight = adaptiveWeight(model, codes, real, cfg, parts);
  } catch (err) {
    dispose();
    throw err;
  }
  return {
    loss: () => {
      const decoded = model.decodeCodes(codes); // [B, 3, S, S]
      const reconstruction = toUnitNhwc((injectNaN ? tf.mul(decoded, Number.NaN) : decoded) as tf.Tensor4D);
      held.push(tf.keep(tf.clone(reconstruction)));
      return stage2GeneratorLoss({
        reconstruction,
        target: real,
        reconstructionKind: settings.reconstruction,
        perceptual: parts.perceptual,
        perceptualWeight: settings.perceptualWeight,
        discriminator: parts.discriminator,
        ganLoss: settings.ganLoss,
        ganWeight,
        step,
        ganStart: settings.ganStart,
      });
    },
    afterGradients: () => {
      if (!gan || !parts.discriminator || !parts.discriminatorGradients) return;
      const fake = held[3] as tf.Tensor4D;
      parts.discriminatorGradients.add(discriminatorGradients(parts.discriminator, cfg, real, fake, step));
    },
    dispose,
  };
}

/** The decoder's last layer: VQGAN's adaptive GAN weight compares gradient norms on it. */
export const LAST_DECODER_LAYER = 'vision_decoder.conv_out.weight';

/**
 * VQGAN's adaptive weight for this step: gradients of the reconstruction (+ perceptual) loss and of the
 * generator loss w.r.t. the last decoder layer, each from its own pass (tfjs cannot take two gradients
 * from one tape), then `adaptiveGanWeight`.
 * @param codes `[B, N, L]` @param real `[B, H, W, 3]` in [0, 1]
 */
function adaptiveWeight(
  model: QLIPModel,
  codes: tf.Tensor3D,
  real: tf.Tensor4D,
  cfg: TrainConfig,
  parts: Stage2Parts,
): number {
  const settings = cfg.loss.stage2;
  const last = model.params.get(LAST_DECODER_LAYER)!;
  const gradOf = (loss: (rec: tf.Tensor4D) => tf.Scalar) => {
    const { value, grads } = variableGradsFreeing(() => loss(toUnitNhwc(model.decodeCodes(codes))), [last]);
    value.dispose();
    return grads[last.name]!;
  };
  const recGrad = gradOf((rec) =>
    tf.tidy(() => {
      const pixelLoss = reconstructionLoss(settings.reconstruction, rec, real);
      if (!parts.perceptual) return pixelLoss;
      return tf.add(
        pixelLoss,
        tf.mul(parts.perceptual.compute(rec, real), settings.perceptualWeight),
      ) as tf.Scalar;
    }),
  );
  const ganGrad = gradOf((rec) => generatorLoss(parts.discriminator!.forward(rec), settings.ganLoss));
  try {
    return adaptiveGanWeight(recGrad, ganGrad, { factor: settings.ganWeight });
  } finally {
    tf.dispose([recGrad, ganGrad]);
  }
}

/** Discriminator gradients on real images vs detached reconstructions (both `[B, H, W, 3]` in [0, 1]). */
function discriminatorGradients(
  discriminator: PatchGanDiscriminator,
  cfg: TrainConfig,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  step: number,
) {
  const { ganLoss, ganStart } = cfg.loss.stage2;
  return gradientsOf(discriminator.params, () => {
    const result = stage2DiscriminatorLoss(discriminator, real, fake, ganLoss, step, ganStart);
    return { total: result.total, terms: result.terms };
  });
}

/** Parameter names stage 2 fine-tunes: quant_embed_post and the pixel decoder. */
export function isStage2Trainable(name: string): boolean {
  return name.startsWith('vision_model.quant_embed_post.') || name.startsWith('vision_decoder.');
}
