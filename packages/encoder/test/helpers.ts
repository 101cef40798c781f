import { Rng } from '@qlip/core';
import type { Params } from '@qlip/nn';
import { initParams } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import {
  bottleneckSpecs,
  type DecoderConfig,
  decoderSpecs,
  type VisionConfig,
  visionSpecs,
} from '../src/index.js';

export function visionConfig(over: Partial<VisionConfig> = {}): VisionConfig {
  return {
    hidden_size: 32,
    intermediate_size: 48,
    num_attention_heads: 2,
    num_hidden_layers: 2,
    layer_norm_eps: 1e-5,
    hidden_act: 'gelu',
    q_bias: true,
    k_bias: true,
    v_bias: true,
    subln: true,
    swiglu: true,
    image_size: 16,
    patch_size: 4,
    num_channels: 3,
    rope: true,
    quantizer: 'bsq',
    quantizer_l2_norm: true,
    quantizer_embed_type: 'mlp',
    hidden_size_post_q: 24,
    quantizer_cfg: { embed_dim: 6, l2_norm: true, group_size: 3 },
    ...over,
  };
}

export function decoderConfig(over: Partial<DecoderConfig> = {}): DecoderConfig {
  return {
    hidden_size: 24,
    intermediate_size: 40,
    num_attention_heads: 2,
    num_hidden_layers: 2,
    layer_norm_eps: 1e-5,
    hidden_act: 'gelu',
    q_bias: true,
    k_bias: true,
    v_bias: true,
    subln: false,
    swiglu: false,
    image_size: 16,
    patch_size: 4,
    num_channels: 3,
    rope: true,
    ...over,
  };
}

/** Random params with non-trivial biases/LN so that every path matters. */
export function randomParams(
  vc: VisionConfig | undefined,
  dc: DecoderConfig | undefined,
  seed: number,
): Params {
  const specs = [
    ...(vc ? [...visionSpecs(vc), ...bottleneckSpecs(vc)] : []),
    ...(dc ? decoderSpecs(dc) : []),
  ];
  return initParams(
    specs.map((s) => ({
      ...s,
      init: { kind: 'normal' as const, std: s.layout === 'plain' && s.shape.length === 1 ? 0.3 : 0.2 },
    })),
    new Rng(seed),
  );
}

export function randomPixels(shape: number[], seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
  ) as tf.Tensor4D;
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
