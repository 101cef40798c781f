import * as tf from '@tensorflow/tfjs-core';

/**
 * 2-D rotary position embedding of EVA-02 / QLIP (`VisionRotaryEmbeddingFast`, freqs_for "lang").
 *
 * For a G x G token grid and head dimension hd: each axis gets d = hd/2 channels with frequencies
 * `1 / theta^(arange(0, d, 2) / d)`, each repeated twice in a row (adjacent channel pairs share a frequency);
 * positions are `arange(G) / G * ptSeqLen` (the reference hard-codes ptSeqLen = 16, so positions are not
 * 0..G-1 unless G = 16). Channels [0, d) follow the row index, [d, 2d) the column index, tokens row-major.
 * Rotation pairs neighbouring channels: out[2k] = x[2k] cos - x[2k+1] sin, out[2k+1] = x[2k+1] cos + x[2k] sin.
 */
export interface RopeOptions {
  /** Tokens per side of the (square) grid. */
  grid: number;
  /** Attention head dimension (must be a multiple of 4). */
  headDim: number;
  /** Frequency base. */
  theta?: number;
  /** Grid size the positions are interpolated to (the reference's `pt_seq_len`). */
  ptSeqLen?: number;
}

/** Host tables `[G*G, headDim]`, the reference's `freqs_cos` / `freqs_sin` buffers. */
export interface RopeTables {
  cos: Float32Array;
  sin: Float32Array;
  tokens: number;
  headDim: number;
}

/**
 * Compute the rope tables, rounding each step to float32 the way the reference's float32 torch code does,
 * so the tables match its buffers to ~1 ulp.
 */
export function ropeTables(opts: RopeOptions): RopeTables {
  const { grid, headDim } = opts;
  const theta = opts.theta ?? 10000;
  const ptSeqLen = opts.ptSeqLen ?? 16;
  if (!Number.isInteger(headDim) || headDim % 4 !== 0) {
    throw new Error(`2-D rope needs a head dimension divisible by 4 (got ${headDim})`);
  }
  const f = Math.fround;
  const d = headDim / 2;
  const freqs = new Float64Array(d / 2);
  for (let k = 0; k < d / 2; k++) freqs[k] = f(1 / f(theta ** f((2 * k) / d)));
  const pos = new Float64Array(grid);
  for (let i = 0; i < grid; i++) pos[i] = f(f(i / grid) * ptSeqLen);
  const tokens = grid * grid;
  const cos = new Float32Array(tokens * headDim);
  const sin = new Float32Array(tokens * headDim);
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      const row = (i * grid + j) * headDim;
      for (let c = 0; c < headDim; c++) {
        const axisPos = c < d ? pos[i]! : pos[j]!;
        const angle = f(axisPos * freqs[Math.floor((c % d) / 2)]!);
        cos[row + c] = Math.cos(angle);
        sin[row + c] = Math.sin(angle);
      }
    }
  }
  return { cos, sin, tokens, headDim };
}

/** Tensors ready for `applyRope`: cos and pair-signed sin, `[T, headDim]`, with `shift` identity rows first. */
export interface RopeTensors {
  cos: tf.Tensor2D;
  sinSigned: tf.Tensor2D;
}

/**
 * Build `applyRope` tensors from the host tables. The first `shift` tokens (the encoder's CLS) get cos = 1,
 * sin = 0, i.e. stay unrotated. The sign of `rotate_half` is folded into the sin table
 * (sinSigned[2k] = -sin[2k], sinSigned[2k+1] = +sin[2k+1]) so the rotation is a pair swap and two products.
 */
export function ropeTensors(tables: RopeTables, shift: number): RopeTensors {
  const { tokens, headDim } = tables;
  const total = tokens + shift;
  const cos = new Float32Array(total * headDim);
  const sinSigned = new Float32Array(total * headDim);
  cos.fill(1, 0, shift * headDim);
  for (let i = 0; i < tokens * headDim; i++) {
    cos[shift * headDim + i] = tables.cos[i]!;
    sinSigned[shift * headDim + i] = i % 2 === 0 ? -tables.sin[i]! : tables.sin[i]!;
  }
  return {
    cos: tf.tensor2d(cos, [total, headDim]),
    sinSigned: tf.tensor2d(sinSigned, [total, headDim]),
  };
}

/**
 * Rotate queries or keys in the projections' token-major layout.
 * @param x `[B, T, H, hd]`; the rope tensors must have T rows.
 */
export function applyRope(x: tf.Tensor, rope: RopeTensors): tf.Tensor {
  return tf.tidy(() => {
    const [b, t, h, hd] = x.shape as [number, number, number, number];
    if (rope.cos.shape[0] !== t || rope.cos.shape[1] !== hd) {
      throw new Error(
        `rope tables are [${rope.cos.shape}] but the attention input has ${t} tokens of dim ${hd}`,
      );
    }
    const pairs = tf.reshape(x, [b * t * h * (hd / 2), 2]); // [B*T*H*hd/2, 2]
    const swapped = tf.reshape(tf.reverse(pairs, 1), [b, t, h, hd]); // (x[2k+1], x[2k]) per pair
    const cos = tf.reshape(rope.cos, [t, 1, hd]); // one row per token, broadcast over heads
    const sin = tf.reshape(rope.sinSigned, [t, 1, hd]);
    return tf.add(tf.mul(x, cos), tf.mul(swapped, sin));
  });
}
