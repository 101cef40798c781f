import type { BlockConfig, Params } from '@qlip/nn';
import { FLOAT, type GraphBuilder, INT8, MS_DOMAIN } from './graph.js';

/**
 * ONNX emitters mirroring the tfjs layers of @qlip/nn op by op (same constants, same order of operations),
 * so the exported graphs agree with the tfjs path to float32 rounding. Every emitter takes value names and
 * returns the name of its output; shapes are in the JSDoc, `B` is the dynamic batch.
 */

/** Register parameter `name` of `params` as an initializer (storage layout: Linear weights `[in, out]`). */
export function weight(g: GraphBuilder, params: Params, name: string): string {
  const v = params.get(name);
  if (!v) throw new Error(`ONNX export (${g.name}): the model has no parameter "${name}"`);
  return g.initializer({
    name,
    dataType: FLOAT,
    dims: [...v.shape],
    // Read from the backend only when the file is written, one tensor at a time.
    data: async () => (await v.data()) as Float32Array,
  });
}

/**
 * `x @ W + b` (W stored `[in, out]`, so no transpose). `[..., in]` -> `[..., out]`. A `quantizable` layer (the
 * transformer blocks' projections and MLP) of an int8 graph multiplies in int8 instead (`linearInt8`); the
 * patch embedding, bottleneck and output projections stay float32 (the sign of the bottleneck's output is
 * the token).
 */
export function linear(
  g: GraphBuilder,
  params: Params,
  prefix: string,
  x: string,
  quantizable = false,
): string {
  const y =
    quantizable && g.variant.precision === 'int8'
      ? linearInt8(g, params, prefix, x)
      : g.op('MatMul', [x, weight(g, params, `${prefix}.weight`)], {}, 'matmul');
  return params.has(`${prefix}.bias`) ? g.op('Add', [y, weight(g, params, `${prefix}.bias`)], {}, 'add') : y;
}

/**
 * Symmetric per-output-channel int8 weights: `W[i, j] ~ q[i, j] * scale[j]`, `scale[j] = max_i |W[i, j]| / 127`
 * (1 for an all-zero column), q rounded to nearest (ties to even, as numpy and ONNX QuantizeLinear) within
 * [-127, 127]. `w` is `[in, out]` row-major.
 */
export function quantizeColumns(w: Float32Array, out: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(out);
  for (let i = 0; i < w.length; i++) scale[i % out] = Math.max(scale[i % out]!, Math.abs(w[i]!));
  for (let j = 0; j < out; j++) scale[j] = scale[j]! > 0 ? scale[j]! / 127 : 1;
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++)
    q[i] = Math.max(-127, Math.min(127, roundHalfEven(w[i]! / scale[i % out]!)));
  return { q, scale };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `x @ W` with dynamic quantisation, standard ONNX ops in the pattern ONNX Runtime fuses into one
 * DynamicQuantizeMatMul kernel (u8 x s8 dot products, VNNI on AVX-512): DynamicQuantizeLinear(x) -> uint8
 * `xq`, scale `xs`, zero point `xz` (per tensor); MatMulInteger(xq, Wq, xz) -> int32; Cast; times
 * `xs * scale[j]`. `[..., in]` -> `[..., out]`
 */
function linearInt8(g: GraphBuilder, params: Params, prefix: string, x: string): string {
  const name = `${prefix}.weight`;
  const v = params.get(name);
  if (!v) throw new Error(`ONNX export (${g.name}): the model has no parameter "${name}"`);
  const [din, dout] = v.shape as [number, number];
  let quantized: Promise<{ q: Int8Array; scale: Float32Array }> | undefined;
  // Read and quantised once, when the file is written.
  const columns = () => {
    quantized ??= v.data().then((w) => quantizeColumns(w as Float32Array, dout));
    return quantized;
  };
  const wq = g.initializer({
    name: `${name}.int8`,
    dataType: INT8,
    dims: [din, dout],
    data: async () => (await columns()).q,
  });
  const ws = g.initializer({
    name: `${name}.scale`,
    dataType: FLOAT,
    dims: [dout],
    data: async () => (await columns()).scale,
  });
  const [xq, xs, xz] = g.opMulti('DynamicQuantizeLinear', [x], 3, {}, 'dql') as [string, string, string];
  const acc = g.op('MatMulInteger', [xq, wq, xz], {}, 'matmul_int'); // int32 [..., out]
  const f = g.op('Cast', [acc], { to: FLOAT });
  return g.op('Mul', [f, g.op('Mul', [xs, ws], {}, 'scale')], {}, 'dequant');
}

/** LayerNormalization over the last axis (opset 17). */
export function layerNorm(g: GraphBuilder, params: Params, prefix: string, x: string, eps: number): string {
  return g.op(
    'LayerNormalization',
    [x, weight(g, params, `${prefix}.weight`), weight(g, params, `${prefix}.bias`)],
    { axis: -1, epsilon: { float: eps } },
    'layernorm',
  );
}

/** A float32 scalar constant. */
export function scalar(g: GraphBuilder, v: number, hint = 'c'): string {
  return g.constF(hint, [v], []);
}

/**
 * Exact GELU `(x * 0.5) * (erf(x / sqrt 2) + 1)` (opset 17 has no Gelu op). @qlip/nn multiplies by 1/sqrt 2
 * instead; dividing differs by at most an ulp inside erf, and is the form ONNX Runtime fuses into one Gelu
 * kernel (with the preceding bias Add: BiasGelu), which saves four passes over the MLP activations.
 */
export function geluErf(g: GraphBuilder, x: string): string {
  const erf = g.op('Erf', [g.op('Div', [x, scalar(g, Math.SQRT2)])]);
  return g.op('Mul', [g.op('Mul', [x, scalar(g, 0.5)]), g.op('Add', [erf, scalar(g, 1)])], {}, 'gelu');
}

/** `x * sigmoid(x)` */
export function silu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])], {}, 'silu');
}

/** The `hidden_act` values of @qlip/nn `activation`, same formulas. */
export function activation(g: GraphBuilder, name: string, x: string): string {
  switch (name) {
    case 'gelu':
      return geluErf(g, x);
    case 'quick_gelu':
      return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, scalar(g, 1.702)])])]);
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      const cube = g.op('Pow', [x, scalar(g, 3)]);
      const inner = g.op('Mul', [
        g.op('Add', [x, g.op('Mul', [cube, scalar(g, 0.044715)])]),
        scalar(g, Math.sqrt(2 / Math.PI)),
      ]);
      return g.op('Mul', [
        g.op('Mul', [x, scalar(g, 0.5)]),
        g.op('Add', [g.op('Tanh', [inner]), scalar(g, 1)]),
      ]);
    }
    case 'relu':
      return g.op('Relu', [x]);
    case 'silu':
    case 'swish':
      return silu(g, x);
    default:
      throw new Error(`ONNX export: unsupported hidden_act "${name}"`);
  }
}

/** Rope tables as initializers: cos and pair-signed sin `[T, hd]` (see @qlip/nn `ropeTensors`). */
export interface OnnxRope {
  cos: string;
  sinSigned: string;
}

/**
 * Rotate `[B, H, T, hd]` queries/keys: `x * cos + swap_pairs(x) * sinSigned`, the pair swap as a Gather of
 * [1, 0] on a `[B, H, T, hd/2, 2]` view.
 */
function applyRope(
  g: GraphBuilder,
  x: string,
  rope: OnnxRope,
  shape: { h: number; t: number; hd: number },
): string {
  const pairs = g.op('Reshape', [x, g.constI64('shape', [0, shape.h, shape.t, shape.hd / 2, 2])]); // [B, H, T, hd/2, 2]
  const swapped = g.op('Gather', [pairs, g.constI64('swap', [1, 0])], { axis: 4 }); // [B, H, T, hd/2, 2]
  const flat = g.op('Reshape', [swapped, g.constI64('shape', [0, shape.h, shape.t, shape.hd])]); // [B, H, T, hd]
  return g.op('Add', [g.op('Mul', [x, rope.cos]), g.op('Mul', [flat, rope.sinSigned])], {}, 'rope');
}

export interface AttentionOptions {
  /** Additive `[T, T]` mask initializer (causal text attention). */
  mask?: string;
  rope?: OnnxRope;
}

/** QLIPAttention as @qlip/nn `attention`. `[B, T, D]` -> `[B, T, D]`, T static. */
export function attention(
  g: GraphBuilder,
  params: Params,
  prefix: string,
  cfg: BlockConfig,
  x: string,
  t: number,
  opts: AttentionOptions,
): string {
  const d = cfg.hidden_size;
  const h = cfg.num_attention_heads;
  const hd = d / h;
  const q0 = g.op('Mul', [linear(g, params, `${prefix}.q_proj`, x, true), scalar(g, hd ** -0.5)]); // [B, T, D]
  if (g.variant.attention === 'ort' && !opts.rope && !opts.mask) {
    return fusedAttention(g, params, prefix, cfg, x, q0);
  }
  const heads = g.constI64('shape', [0, t, h, hd]);
  let q = g.op('Transpose', [g.op('Reshape', [q0, heads])], { perm: [0, 2, 1, 3] }); // [B, H, T, hd]
  const kLin = g.op('Reshape', [linear(g, params, `${prefix}.k_proj`, x, true), heads]); // [B, T, H, hd]
  const v = g.op('Transpose', [g.op('Reshape', [linear(g, params, `${prefix}.v_proj`, x, true), heads])], {
    perm: [0, 2, 1, 3],
  }); // [B, H, T, hd]
  let kT: string;
  if (opts.rope) {
    q = applyRope(g, q, opts.rope, { h, t, hd });
    const k = applyRope(g, g.op('Transpose', [kLin], { perm: [0, 2, 1, 3] }), opts.rope, { h, t, hd });
    kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] }); // [B, H, hd, T]
  } else {
    kT = g.op('Transpose', [kLin], { perm: [0, 2, 3, 1] }); // [B, H, hd, T]
  }
  let scores = g.op('MatMul', [q, kT], {}, 'scores'); // [B, H, T, T]
  if (opts.mask) scores = g.op('Add', [scores, opts.mask]);
  const probs = g.op('Softmax', [scores], { axis: -1 });
  const ctx = g.op('MatMul', [probs, v]); // [B, H, T, hd]
  const out = g.op('Reshape', [
    g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }),
    g.constI64('shape', [0, t, d]),
  ]); // [B, T, D]
  return attentionOutput(g, params, prefix, cfg, out);
}

/** Optional sub-LN, then out_proj. `[B, T, D]` -> `[B, T, D]` */
function attentionOutput(
  g: GraphBuilder,
  params: Params,
  prefix: string,
  cfg: BlockConfig,
  out: string,
): string {
  const o = cfg.subln ? layerNorm(g, params, `${prefix}.inner_attn_ln`, out, cfg.layer_norm_eps) : out;
  return linear(g, params, `${prefix}.out_proj`, o, true);
}

/**
 * Attention as ONNX Runtime's `com.microsoft.MultiHeadAttention` (one kernel: per-head QK^T, softmax, PV,
 * no head transposes). `q` arrives already scaled by hd^-0.5 exactly as in the standard graph, so the
 * kernel's own scale is 1. `[B, T, D]` -> `[B, T, D]`
 */
function fusedAttention(
  g: GraphBuilder,
  params: Params,
  prefix: string,
  cfg: BlockConfig,
  x: string,
  q: string,
): string {
  const k = linear(g, params, `${prefix}.k_proj`, x, true); // [B, T, D]
  const v = linear(g, params, `${prefix}.v_proj`, x, true); // [B, T, D]
  const [out] = g.opMulti(
    'MultiHeadAttention',
    [q, k, v],
    1,
    { num_heads: cfg.num_attention_heads, scale: { float: 1 } },
    'mha',
    MS_DOMAIN,
  ); // [B, T, D]
  return attentionOutput(g, params, prefix, cfg, out!);
}

/** SwiGLU or plain MLP with optional `ffn_ln`, as @qlip/nn `mlp`. `[B, T, D]` -> `[B, T, D]` */
export function mlp(g: GraphBuilder, params: Params, prefix: string, cfg: BlockConfig, x: string): string {
  let hidden = cfg.swiglu
    ? g.op('Mul', [
        silu(g, linear(g, params, `${prefix}.w1`, x, true)),
        linear(g, params, `${prefix}.w2`, x, true),
      ])
    : activation(g, cfg.hidden_act, linear(g, params, `${prefix}.fc1`, x, true));
  if (cfg.subln) hidden = layerNorm(g, params, `${prefix}.ffn_ln`, hidden, cfg.layer_norm_eps);
  return linear(g, params, cfg.swiglu ? `${prefix}.w3` : `${prefix}.fc2`, hidden, true);
}

/** The pre-LN layer stack (`prefix` = `vision_model.encoder`). `[B, T, D]` -> `[B, T, D]` */
export function encoder(
  g: GraphBuilder,
  params: Params,
  prefix: string,
  cfg: BlockConfig,
  x: string,
  t: number,
  opts: AttentionOptions = {},
): string {
  const eps = cfg.layer_norm_eps;
  let h = x;
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `${prefix}.layers.${i}`;
    const a = attention(
      g,
      params,
      `${p}.self_attn`,
      cfg,
      layerNorm(g, params, `${p}.layer_norm1`, h, eps),
      t,
      opts,
    );
    const h1 = g.op('Add', [h, a], {}, 'residual');
    h = g.op(
      'Add',
      [h1, mlp(g, params, `${p}.mlp`, cfg, layerNorm(g, params, `${p}.layer_norm2`, h1, eps))],
      {},
      'residual',
    );
  }
  return h;
}

/** `z / max(||z||_2, 1e-12)` over the last axis, as @qlip/bsq `l2Normalize`. */
export function l2Normalize(g: GraphBuilder, z: string): string {
  const norm = g.op('ReduceL2', [z], { axes: [-1], keepdims: 1 });
  return g.op('Div', [z, g.op('Max', [norm, scalar(g, 1e-12)])], {}, 'l2norm');
}
