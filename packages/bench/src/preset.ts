import { type BenchShape, benchConfig, benchSShape, benchSSpec } from '@qlip/trainer';

/**
 * The `bench-s` speed model, read from its one definition (fixtures/bench-s.json, shared with the PyTorch
 * peer, through @qlip/trainer's reader) and the tiny model of the same layout for smoke runs.
 */
export { type BenchShape, benchConfig };

const spec = benchSSpec();

/** bench-s exactly as fixtures/bench-s.json describes it. */
export const BENCH_S: BenchShape = benchSShape(spec);

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
export const BENCH_S_OPTIMIZER = {
  lr: spec.optimizer.lr,
  beta1: spec.optimizer.betas[0],
  beta2: spec.optimizer.betas[1],
  eps: spec.optimizer.eps,
  weightDecay: spec.optimizer.weight_decay,
};
export const BENCH_S_LOSS_WEIGHTS = { ...spec.stage1_loss.weights };

/** bench-s.json `expected.params`: the parameter counts of the PyTorch peer's model. */
export const BENCH_S_EXPECTED_PARAMS = spec.expected.params;

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
