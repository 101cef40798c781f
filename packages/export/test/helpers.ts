import { SafetensorsReader, toFloat32, toInt32 } from '@qlip/core';
import type { QLIPConfigInput } from '@qlip/model';

export const FIXTURE = new URL('../../../fixtures/qlip-reference/qlip-tiny-eva/', import.meta.url).pathname;

/** A fixture tensor as float32 or int32 host data. */
export interface Ref {
  shape: number[];
  f32: Float32Array;
  i32: Int32Array;
}

export async function readFixture(file: string): Promise<Map<string, Ref>> {
  const r = await SafetensorsReader.open(`${FIXTURE}${file}`);
  const out = new Map<string, Ref>();
  for (const name of r.names()) {
    const t = await r.read(name);
    const isFloat = t.dtype === 'F32';
    out.set(name, {
      shape: t.shape,
      f32: isFloat ? toFloat32(t) : new Float32Array(0),
      i32: isFloat ? new Int32Array(0) : toInt32(t),
    });
  }
  await r.close();
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

/** Row-wise L2 normalisation of `[rows, dim]` host data (float64). */
export function normalizeRows(x: Float32Array, dim: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[r * dim + j]! ** 2;
    const n = Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < dim; j++) out[r * dim + j] = x[r * dim + j]! / n;
  }
  return out;
}

export interface TinyOptions {
  image?: number;
  patch?: number;
  bits?: number;
  groupSize?: number;
  eva?: boolean;
  rope?: boolean;
  embed?: 'mlp' | 'identity';
  hidden?: number;
  projBias?: boolean;
  act?: string;
  qkvBias?: boolean;
  l2?: boolean;
  eos?: number;
}

/** A tiny QLIP config (fast on 2 cores) with the knobs the export tests vary. */
export function tinyConfig(o: TinyOptions = {}): QLIPConfigInput {
  const hidden = o.hidden ?? 16;
  const eva = o.eva ?? true;
  const embed = o.embed ?? 'mlp';
  const bits = o.bits ?? 8;
  const bias = o.qkvBias ?? true;
  const block = {
    hidden_size: hidden,
    intermediate_size: 24,
    num_attention_heads: 2,
    num_hidden_layers: 2,
    swiglu: eva,
    subln: eva,
    rope: o.rope ?? eva,
    hidden_act: o.act ?? 'gelu',
    q_bias: bias,
    k_bias: bias,
    v_bias: bias,
    image_size: o.image ?? 16,
    patch_size: o.patch ?? 4,
  };
  return {
    projection_dim: 8,
    vision_projection_bias: o.projBias ?? false,
    text_projection_bias: o.projBias ?? false,
    text_config: {
      hidden_size: 16,
      intermediate_size: 32,
      num_attention_heads: 2,
      num_hidden_layers: 2,
      hidden_act: o.act ?? 'gelu',
      vocab_size: 60,
      max_position_embeddings: 8,
      eos_token_id: o.eos ?? 59,
    },
    vision_config: {
      ...block,
      quantizer: 'bsq',
      quantizer_l2_norm: o.l2 ?? true,
      quantizer_embed_type: embed,
      hidden_size_post_q: embed === 'mlp' ? 8 : hidden,
      quantizer_cfg: {
        embed_dim: embed === 'mlp' ? bits : hidden,
        group_size: o.groupSize ?? (embed === 'mlp' ? bits / 2 : hidden / 2),
        l2_norm: o.l2 ?? true,
        input_format: 'blc',
      },
    },
    decoder_config: { ...block, hidden_size: embed === 'mlp' ? 8 : hidden, intermediate_size: 20 },
  };
}
