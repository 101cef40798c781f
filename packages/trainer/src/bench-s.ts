import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { QLIPConfigInput } from '@qlip/model';

/**
 * bench-s, the speed model shared with the PyTorch peer, is defined once: fixtures/bench-s.json (a copy of
 * ../shared/bench/bench-s.json). The trainer's `bench-s` preset and @qlip/bench's model are read from it here,
 * at load time, so they cannot drift from what the peer builds.
 */
export const BENCH_S_SPEC_FILE = fileURLToPath(new URL('../../../fixtures/bench-s.json', import.meta.url));

/** The fields of fixtures/bench-s.json that the TypeScript side builds from. */
export interface BenchSSpec {
  image: { size: number };
  patch_embed: { patch_size: number };
  block: { layernorm_eps: number };
  vision_encoder: { width: number; depth: number; heads: number; mlp_hidden: number };
  bottleneck: { bsq: { bits: number; entropy: { group_size: number; inv_temperature: number } } };
  decoder: { width: number; depth: number; heads: number; mlp_hidden: number };
  text_encoder: {
    vocab_size: number;
    context_length: number;
    width: number;
    depth: number;
    heads: number;
    mlp_hidden: number;
    projection: { out: number };
  };
  logit_scale: { init: number };
  stage1_loss: { weights: { reconstruction: number; bsq: number; contrastive: number } };
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  benchmark: { batch: number };
  /** The PyTorch peer's parameter counts per group. */
  expected: {
    params: {
      vision_encoder: number;
      bottleneck: number;
      decoder: number;
      image_embedding: number;
      text_encoder: number;
      logit_scale: number;
      total: number;
    };
  };
}

let cached: BenchSSpec | undefined;

/** fixtures/bench-s.json, read once; a missing or unreadable file names itself. */
export function benchSSpec(): BenchSSpec {
  if (cached) return cached;
  try {
    cached = JSON.parse(readFileSync(BENCH_S_SPEC_FILE, 'utf8')) as BenchSSpec;
  } catch (err) {
    throw new Error(`${BENCH_S_SPEC_FILE}: cannot read the bench-s definition (${(err as Error).message})`);
  }
  return cached;
}

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

/** bench-s's shape, exactly as fixtures/bench-s.json describes it. */
export function benchSShape(spec: BenchSSpec = benchSSpec()): BenchShape {
  const v = spec.vision_encoder;
  const t = spec.text_encoder;
  return {
    imageSize: spec.image.size,
    patchSize: spec.patch_embed.patch_size,
    width: v.width,
    visionDepth: v.depth,
    decoderDepth: spec.decoder.depth,
    heads: v.heads,
    mlpHidden: v.mlp_hidden,
    bits: spec.bottleneck.bsq.bits,
    groupSize: spec.bottleneck.bsq.entropy.group_size,
    textWidth: t.width,
    textDepth: t.depth,
    textHeads: t.heads,
    textMlpHidden: t.mlp_hidden,
    contextLength: t.context_length,
    vocabSize: t.vocab_size,
    projectionDim: t.projection.out,
    batch: spec.benchmark.batch,
  };
}

/**
 * The official-layout QLIP config closest to `shape` (bench-s's own by default). The one structural
 * difference from bench-s: the official `quantizer_embed_type: "mlp"` bottleneck is two Linear layers with a
 * GELU each way (`quant_embed` = Linear(D->D), GELU, Linear(D->L); `quant_embed_post` = Linear(L->D), GELU,
 * Linear(D->D)), where bench-s has a single Linear(D->L) and Linear(L->D). The other choice, "identity", would
 * need L = D (256 bits), which is far further from bench-s. So this model carries two extra D x D layers
 * (2 * 65,792 parameters). BSQ temperature, LayerNorm eps and the logit scale come from bench-s.
 */
export function benchConfig(shape: BenchShape = benchSShape(), spec = benchSSpec()): QLIPConfigInput {
  const block = {
    hidden_act: 'gelu' as const,
    layer_norm_eps: spec.block.layernorm_eps,
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
        inv_temperature: spec.bottleneck.bsq.entropy.inv_temperature,
        persample_entropy_compute: 'group',
        beta: 0, // bench-s has no commitment loss
        gamma_0: 1,
        gamma_1: 1,
      },
    },
    decoder_config: { ...vision, num_hidden_layers: shape.decoderDepth },
    projection_dim: shape.projectionDim,
    logit_scale_init_value: spec.logit_scale.init,
    vision_projection_bias: false,
    text_projection_bias: false,
  };
}

/**
 * What the `bench-s` training preset takes from fixtures/bench-s.json: the model, the AdamW numbers and the
 * stage-1 loss weights, the image size (the run itself, data and schedule live in presets/bench-s.json).
 */
export function benchSTrainValues(spec = benchSSpec()): Record<string, unknown> {
  const o = spec.optimizer;
  return {
    model: benchConfig(benchSShape(spec), spec),
    data: { imageSize: spec.image.size },
    optimizer: { lr: o.lr, betas: [...o.betas], eps: o.eps, weightDecay: o.weight_decay },
    loss: { stage1: { weights: { ...spec.stage1_loss.weights } } },
  };
}
