import type { QLIPConfigInput } from '@qlip/model';

/**
 * The `bench-s` speed model (fixtures/bench-s.json, shared with the PyTorch peer) as plain numbers, plus the
 * closest official-layout QLIP config. A test checks every number here against the fixture file.
 */

/** The shape of a benchmark model: a bench-s-like ViT tokenizer plus a CLIP text tower. */
export interface BenchShape {
  /** Image side in pixels (square, 3 channels). */
  imageSize: number;
  patchSize: number;
  /** Vision encoder and decoder width / depth / heads / MLP hidden size. */
  width: number;
  visionDepth: number;
  decoderDepth: number;
  heads: number;
  mlpHidden: number;
  /** BSQ bits per token and bits per entropy group. */
  bits: number;
  groupSize: number;
  textWidth: number;
  textDepth: number;
  textHeads: number;
  textMlpHidden: number;
  contextLength: number;
  vocabSize: number;
  projectionDim: number;
  /** Images (and prompts) per batch. */
  batch: number;
}

/** bench-s exactly as fixtures/bench-s.json describes it. */
export const BENCH_S: BenchShape = {
  imageSize: 64,
  patchSize: 8,
  width: 256,
  visionDepth: 6,
  decoderDepth: 6,
  heads: 4,
  mlpHidden: 1024,
  bits: 18,
  groupSize: 9,
  textWidth: 256,
  textDepth: 4,
  textHeads: 4,
  textMlpHidden: 1024,
  contextLength: 32,
  vocabSize: 49408,
  projectionDim: 256,
  batch: 32,
};

/** A tiny model of the same layout for smoke runs (`--quick`): seconds per backend, not a measurement. */
export const BENCH_TINY: BenchShape = {
  imageSize: 32,
  patchSize: 8,
  width: 64,
  visionDepth: 1,
  decoderDepth: 1,
  heads: 2,
  mlpHidden: 128,
  bits: 18,
  groupSize: 9,
  textWidth: 64,
  textDepth: 1,
  textHeads: 2,
  textMlpHidden: 128,
  contextLength: 16,
  vocabSize: 1024,
  projectionDim: 64,
  batch: 4,
};

/** bench-s optimizer (AdamW, decoupled decay on every parameter) and loss weights. */
export const BENCH_S_OPTIMIZER = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
export const BENCH_S_LOSS_WEIGHTS = { reconstruction: 1, bsq: 1, contrastive: 1 };
export const BENCH_S_INV_TEMPERATURE = 100;
export const BENCH_S_LOGIT_SCALE_INIT = 2.659260036932778;

/** bench-s.json `expected.params`: the parameter counts of the PyTorch peer's model. */
export const BENCH_S_EXPECTED_PARAMS = {
  vision_encoder: 4804864,
  bottleneck: 9490,
  decoder: 5215424,
  image_embedding: 66048,
  text_encoder: 15881728,
  logit_scale: 1,
  total: 25977555,
} as const;

/**
 * The official-layout QLIP config closest to `shape`. The one structural difference from bench-s: the
 * official `quantizer_embed_type: "mlp"` bottleneck is two Linear layers with a GELU each way
 * (`quant_embed` = Linear(D->D), GELU, Linear(D->L); `quant_embed_post` = Linear(L->D), GELU, Linear(D->D)),
 * where bench-s has a single Linear(D->L) and Linear(L->D). The other choice, "identity", would need
 * L = D (256 bits), which is far further from bench-s. So this model carries two extra D x D layers
 * (2 * 65,792 parameters); their FLOPs are counted separately (see `flops.ts`).
 */
export function benchConfig(shape: BenchShape = BENCH_S): QLIPConfigInput {
  const block = {
    hidden_act: 'gelu' as const,
    layer_norm_eps: 1e-5,
    swiglu: false,
    subln: false,
    rope: false,
    q_bias: true,
    k_bias: true,
    v_bias: true,
    attention_dropout: 0,
  };
  const vision = {
    ...block,
    hidden_size: shape.width,
    intermediate_size: shape.mlpHidden,
    num_attention_heads: shape.heads,
    image_size: shape.imageSize,
    patch_size: shape.patchSize,
    num_channels: 3,
    projection_dim: shape.projectionDim,
  };
  return {
    text_config: {
      ...block,
      hidden_size: shape.textWidth,
      intermediate_size: shape.textMlpHidden,
      num_attention_heads: shape.textHeads,
      num_hidden_layers: shape.textDepth,
      vocab_size: shape.vocabSize,
      max_position_embeddings: shape.contextLength,
      pad_token_id: 0,
      bos_token_id: shape.vocabSize - 2,
      eos_token_id: shape.vocabSize - 1,
      projection_dim: shape.projectionDim,
    },
    vision_config: {
      ...vision,
      num_hidden_layers: shape.visionDepth,
      quantizer: 'bsq',
      quantizer_l2_norm: true,
      quantizer_embed_type: 'mlp',
      hidden_size_post_q: shape.width,
      quantizer_cfg: {
        embed_dim: shape.bits,
        group_size: shape.groupSize,
        l2_norm: true,
        inv_temperature: BENCH_S_INV_TEMPERATURE,
        persample_entropy_compute: 'group',
        beta: 0, // bench-s has no commitment loss
        gamma_0: 1,
        gamma_1: 1,
      },
    },
    decoder_config: { ...vision, num_hidden_layers: shape.decoderDepth },
    projection_dim: shape.projectionDim,
    logit_scale_init_value: BENCH_S_LOGIT_SCALE_INIT,
    vision_projection_bias: false,
    text_projection_bias: false,
  };
}

/** Parameter-name groups matching bench-s.json's `expected.params` keys. */
export function paramGroup(name: string): keyof typeof BENCH_S_EXPECTED_PARAMS {
  if (name === 'logit_scale') return 'logit_scale';
  if (name.startsWith('text_model.') || name.startsWith('text_projection.')) return 'text_encoder';
  if (name.startsWith('vision_model.quant_embed')) return 'bottleneck';
  if (name.startsWith('vision_model.post_layernorm.') || name.startsWith('visual_projection.'))
    return 'image_embedding';
  if (name.startsWith('vision_model.')) return 'vision_encoder';
  if (name.startsWith('vision_decoder.')) return 'decoder';
  throw new Error(`paramGroup: parameter "${name}" belongs to no bench-s group`);
}
