import * as tf from '@tensorflow/tfjs-core';

/**
 * Cut images into non-overlapping p x p patches, each flattened in (channel, row, col) order -- the order of a
 * Conv2d(k=p, s=p) weight `[D, C, p, p]`, so `patchify(x) @ W^T` equals the convolution. Two 4-D transposes
 * instead of one 6-D one (high-rank transposes are slow on wasm).
 * @param x `[B, C, H, W]` -> `[B, (H/p)*(W/p), C*p*p]`, tokens row-major
 */
export function patchify(x: tf.Tensor, p: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    if (h % p !== 0 || w % p !== 0)
      throw new Error(`patchify: image ${h}x${w} is not a multiple of the patch size ${p}`);
    const gh = h / p;
    const gw = w / p;
    const a = tf.transpose(tf.reshape(x, [b * c * gh, p, gw, p]), [0, 2, 1, 3]); // [B*C*gh, gw, p, p]
    const t = tf.transpose(tf.reshape(a, [b, c, gh * gw, p * p]), [0, 2, 1, 3]); // [B, N, C, p*p]
    return tf.reshape(t, [b, gh * gw, c * p * p]) as tf.Tensor3D; // [B, N, C*p*p]
  });
}

/**
 * Inverse of `patchify` (the reference decoder's `b (hh ww) (c sh sw) -> b c (hh sh) (ww sw)`).
 * @param tokens `[B, gh*gw, C*p*p]` -> `[B, C, gh*p, gw*p]`
 */
export function unpatchify(tokens: tf.Tensor, p: number, gh: number, gw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, n, cpp] = tokens.shape as [number, number, number];
    const c = cpp / (p * p);
    if (n !== gh * gw || !Number.isInteger(c)) {
      throw new Error(
        `unpatchify: tokens [${tokens.shape}] do not fit a ${gh}x${gw} grid of ${p}x${p} patches`,
      );
    }
    const t = tf.transpose(tf.reshape(tokens, [b, n, c, p * p]), [0, 2, 1, 3]); // [B, C, N, p*p]
    const a = tf.transpose(tf.reshape(t, [b * c * gh, gw, p, p]), [0, 2, 1, 3]); // [B*C*gh, p, gw, p]
    return tf.reshape(a, [b, c, gh * p, gw * p]) as tf.Tensor4D; // [B, C, H, W]
  });
}
