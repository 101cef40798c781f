import * as tf from '@tensorflow/tfjs-core';

/** `hinge` (VQGAN default) or `nonSaturating` (softplus; StyleGAN / BSQ-ViT). */
export type GanLossKind = 'hinge' | 'nonSaturating';

function checkKind(fn: string, kind: GanLossKind): void {
  if (kind !== 'hinge' && kind !== 'nonSaturating') {
    throw new Error(`${fn}: unknown GAN loss "${kind as string}", expected "hinge" or "nonSaturating"`);
  }
}

/**
 * Discriminator loss, averaged over patches and batch:
 * hinge: (mean relu(1 - real) + mean relu(1 + fake)) / 2;
 * nonSaturating: (mean softplus(-real) + mean softplus(fake)) / 2.
 * @param realLogits `[B, h, w, 1]` D on real images
 * @param fakeLogits `[B, h, w, 1]` D on reconstructions (detached from the generator by the caller)
 */
export function discriminatorLoss(
  realLogits: tf.Tensor,
  fakeLogits: tf.Tensor,
  kind: GanLossKind,
): tf.Scalar {
  checkKind('discriminatorLoss', kind);
  return tf.tidy(() => {
    const real = kind === 'hinge' ? tf.relu(tf.sub(1, realLogits)) : tf.softplus(tf.neg(realLogits));
    const fake = kind === 'hinge' ? tf.relu(tf.add(1, fakeLogits)) : tf.softplus(fakeLogits);
    return tf.mul(tf.add(tf.mean(real), tf.mean(fake)), 0.5) as tf.Scalar;
  });
}

/**
 * Generator loss: hinge -mean(fake); nonSaturating mean softplus(-fake).
 * @param fakeLogits `[B, h, w, 1]` D on reconstructions (gradient flows to the generator)
 */
export function generatorLoss(fakeLogits: tf.Tensor, kind: GanLossKind): tf.Scalar {
  checkKind('generatorLoss', kind);
  return tf.tidy(
    () =>
      (kind === 'hinge'
        ? tf.neg(tf.mean(fakeLogits))
        : tf.mean(tf.softplus(tf.neg(fakeLogits)))) as tf.Scalar,
  );
}

/** 1 from `startStep` on, else 0 (VQGAN's adopt_weight with disc_start). */
export function ganActive(step: number, startStep: number): boolean {
  return step >= startStep;
}

export interface AdaptiveWeightOptions {
  /** Multiplier (VQGAN's disc_weight). */
  factor: number;
  /** Upper clamp (VQGAN: 1e4). */
  max?: number;
  /** Added to the GAN gradient norm (VQGAN: 1e-4). */
  eps?: number;
}

/**
 * VQGAN's adaptive GAN weight: ||dRec/dW_last|| / (||dGan/dW_last|| + 1e-4), clamped to [0, 1e4],
 * times `factor`. W_last is the decoder's last layer weight; the caller computes both gradients
 * (e.g. `tf.grad` of each loss w.r.t. that variable) and passes them here. Returns a host number:
 * the weight is a constant for the backward pass (VQGAN detaches it).
 * @param recGrad gradient of the reconstruction (+ perceptual) loss, any shape
 * @param ganGrad gradient of the generator loss, same shape
 */
export function adaptiveGanWeight(
  recGrad: tf.Tensor,
  ganGrad: tf.Tensor,
  opts: AdaptiveWeightOptions,
): number {
  if (recGrad.shape.join(',') !== ganGrad.shape.join(',')) {
    throw new Error(
      `adaptiveGanWeight: gradient shapes differ: reconstruction [${recGrad.shape}] vs GAN [${ganGrad.shape}]`,
    );
  }
  const norms = tf.tidy(() => tf.stack([tf.norm(recGrad), tf.norm(ganGrad)]));
  const [nr, ng] = norms.dataSync();
  norms.dispose();
  const w = nr! / (ng! + (opts.eps ?? 1e-4));
  if (!Number.isFinite(w))
    throw new Error(`adaptiveGanWeight: gradient norms are ${nr} and ${ng}, not finite`);
  return Math.min(Math.max(w, 0), opts.max ?? 1e4) * opts.factor;
}
