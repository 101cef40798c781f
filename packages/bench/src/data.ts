import { Rng } from '@qlip/core';

/**
 * bench-s synthetic inputs. Only shapes matter for speed; the values are seeded so runs are repeatable.
 */

/**
 * `[batch, 3, size, size]` NCHW pixels uniform in [-1, 1) (bench-s: "uniform in [-1, 1], seed 0").
 * Row-major, ready for `tf.tensor4d(data, [batch, 3, size, size])`.
 */
export function syntheticImages(batch: number, size: number, seed = 0): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < out.length; i++) out[i] = 2 * rng.next() - 1;
  return out;
}

/**
 * `[batch, ctx]` token ids, row-major: SOT (vocab - 2), 4..14 random ids in [1, vocab - 3], EOT (vocab - 1),
 * zero padding. With the CLIP vocabulary (49408) this is bench-s's "SOT, 4..14 random ids in [1, 49405],
 * EOT, zero padding to 32, seed 0".
 */
export function syntheticPrompts(batch: number, ctx: number, vocab: number, seed = 0): Int32Array {
  if (ctx < 16) throw new RangeError(`syntheticPrompts: context ${ctx} cannot hold SOT + 14 ids + EOT`);
  if (vocab < 4) throw new RangeError(`syntheticPrompts: vocabulary of ${vocab} ids is too small`);
  const rng = new Rng(seed);
  const ids = new Int32Array(batch * ctx);
  for (let p = 0; p < batch; p++) {
    const row = p * ctx;
    const len = 4 + rng.int(11);
    ids[row] = vocab - 2;
    for (let i = 1; i <= len; i++) ids[row + i] = 1 + rng.int(vocab - 3);
    ids[row + len + 1] = vocab - 1;
  }
  return ids;
}
