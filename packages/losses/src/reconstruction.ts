import * as tf from '@tensorflow/tfjs-core';

/** Pixel reconstruction loss kinds: `l1` = mean |x - y|, `l2` = mean (x - y)^2 (QLIP stage 1 uses MSE). */
export type ReconstructionKind = 'l1' | 'l2';

function checkSameShape(fn: string, pred: tf.Tensor, target: tf.Tensor): void {
  const a = pred.shape.join(',');
  const b = target.shape.join(',');
  if (a !== b) throw new Error(`${fn}: prediction shape [${a}] differs from target shape [${b}]`);
}

/** Mean absolute error over all elements. @param pred any shape @param target same shape */
export function l1Loss(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  checkSameShape('l1Loss', pred, target);
  return tf.tidy(() => tf.mean(tf.abs(tf.sub(pred, target))) as tf.Scalar);
}

/** Mean squared error over all elements. @param pred any shape @param target same shape */
export function l2Loss(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  checkSameShape('l2Loss', pred, target);
  return tf.tidy(() => tf.mean(tf.squaredDifference(pred, target)) as tf.Scalar);
}

export function reconstructionLoss(kind: ReconstructionKind, pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  if (kind === 'l1') return l1Loss(pred, target);
  if (kind === 'l2') return l2Loss(pred, target);
  throw new Error(`reconstructionLoss: unknown kind "${kind as string}", expected "l1" or "l2"`);
}
