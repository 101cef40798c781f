import * as tf from '@tensorflow/tfjs-core';

/**
 * Gradient of a depthwise convolution with respect to its input, from ops every backend has.
 * (The wasm backend lacks `DepthwiseConv2dNativeBackpropInput`.) The transposed depthwise
 * convolution is a plain depthwise convolution of the stride-dilated, padded `dy` with the
 * spatially flipped filter.
 *
 * @param dy [B, Ho, Wo, C*M]
 * @param filter [kh, kw, C, M]
 * @param xShape [B, H, W, C]
 * @returns dx [B, H, W, C]
 */
export function depthwiseConv2dBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  xShape: [number, number, number, number],
  strides: [number, number],
  pad: 'same' | 'valid',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = xShape;
    const [kh, kw, , m] = filter.shape;
    const info = tf.backend_util.computeConv2DInfo(xShape, filter.shape, strides, 1, pad, undefined, true);
    const [sh, sw] = strides;
    const [, ho, wo, cm] = dy.shape;
    let d: tf.Tensor4D = dy;
    if (sh > 1) {
      // Insert sh-1 zero rows after every row: [B, Ho, 1, Wo*CM] -> [B, Ho, sh, Wo*CM] -> [B, Ho*sh, Wo, CM]
      const rowsPadded = tf.pad(tf.reshape(d, [b, ho, 1, wo * cm]), [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
      ]);
      d = tf.reshape(rowsPadded, [b, ho * sh, wo, cm]);
    }
    if (sw > 1) {
      // Same for columns: [B*Ho', Wo, 1, CM] -> [B*Ho', Wo, sw, CM] -> [B, Ho', Wo*sw, CM]
      const rows = d.shape[1];
      const colsPadded = tf.pad(tf.reshape(d, [b * rows, wo, 1, cm]), [
        [0, 0],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      d = tf.reshape(colsPadded, [b, rows, wo * sw, cm]);
    }
    // Drop the zeros after the last sample: [B, (Ho-1)*sh+1, (Wo-1)*sw+1, CM]
    const dh = (ho - 1) * sh + 1;
    const dw = (wo - 1) * sw + 1;
    d = tf.slice(d, [0, 0, 0, 0], [b, dh, dw, cm]);
    const top = kh - 1 - info.padInfo.top;
    const left = kw - 1 - info.padInfo.left;
    d = tf.pad(d, [
      [0, 0],
      [top, h + kh - 1 - dh - top],
      [left, w + kw - 1 - dw - left],
      [0, 0],
    ]);
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c * m, 1]); // [kh, kw, C*M, 1]
    const full = tf.depthwiseConv2d(d, flipped as tf.Tensor4D, 1, 'valid'); // [B, H, W, C*M]
    return m === 1 ? full : (tf.sum(tf.reshape(full, [b, h, w, c, m]), 4) as tf.Tensor4D);
  });
}

/**
 * Depthwise convolution by a constant filter whose input gradient uses
 * {@link depthwiseConv2dBackpropInput}, so it can be differentiated on the wasm backend.
 * No gradient flows to `filter` (the feature networks are frozen).
 */
export function depthwiseConv2dFrozen(
  filter: tf.Tensor4D,
  strides: [number, number],
  pad: 'same' | 'valid',
): (x: tf.Tensor4D) => tf.Tensor4D {
  // customGrad passes the inputs followed by a save function; only the first input is used.
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x4 = args[0] as tf.Tensor4D;
    const value = tf.depthwiseConv2d(x4, filter, strides, pad);
    const shape = x4.shape;
    return {
      value,
      gradFunc: (dy: tf.Tensor) =>
        depthwiseConv2dBackpropInput(dy as tf.Tensor4D, filter, shape, strides, pad),
    };
  }) as unknown as (x: tf.Tensor4D) => tf.Tensor4D;
}
