import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConfigLayer,
  deepMerge,
  type ResolvedConfig,
  readJsonConfig,
  resolveConfig,
  resolveConfigWithOrigins,
} from '@qlip/core';
import { DataConfigSchema } from '@qlip/data';
import { qlipConfigSchema } from '@qlip/model';
import { z } from 'zod';
import { benchSTrainValues } from './bench-s.js';

/**
 * Training configuration, one zod schema per concern. Resolved as preset < config file < flags
 * (`resolveTrainConfig`) and saved verbatim in every checkpoint's trainer_state.json.
 */

/** `model`: the official QLIP config.json object (validated by the model package's schema). */
export const ModelSectionSchema = z.looseObject({}).superRefine((value, ctx) => {
  const r = qlipConfigSchema.safeParse(value);
  if (!r.success)
    for (const i of r.error.issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
});

export const OptimizerSchema = z.strictObject({
  /** Peak learning rate. */
  lr: z.number().positive().default(1e-4),
  betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.99]),
  eps: z.number().positive().default(1e-8),
  weightDecay: z.number().min(0).default(1e-4),
  /** `default`: no decay for biases, norms, embeddings and logit_scale; `none`: decay everything. */
  noDecay: z.enum(['default', 'none']).default('default'),
  /** Global gradient-norm clip; 0 turns it off. */
  clipNorm: z.number().min(0).default(1),
  /** Micro-batches of `data.batchSize` summed (averaged) into one optimizer step. */
  gradAccum: z.number().int().positive().default(1),
});

export const ScheduleSchema = z.strictObject({
  kind: z.enum(['cosine', 'constant']).default('cosine'),
  warmupSteps: z.number().int().min(0).default(0),
  /** Cosine floor. */
  minLr: z.number().min(0).default(0),
  /** Steps the cosine spans; default `steps`. Set it when a run is split into parts. */
  totalSteps: z.number().int().positive().optional(),
});

export const Stage1LossSchema = z.strictObject({
  /** `multiPositive`: identical captions in a batch are positives for each other; `plain`: CLIP InfoNCE. */
  contrastive: z.enum(['multiPositive', 'plain']).default('multiPositive'),
  /** `dynamic`: reconstruction vs contrastive weighted by inverse EMA of their values; `fixed`: `weights`. */
  balancing: z.enum(['dynamic', 'fixed']).default('dynamic'),
  /** Fixed weights (bsq always; all three in fixed mode). */
  weights: z
    .strictObject({
      reconstruction: z.number().min(0).default(1),
      bsq: z.number().min(0).default(1),
      contrastive: z.number().min(0).default(1),
    })
    .prefault({}),
  /** Sum of the two balanced weights. */
  balancerTotal: z.number().positive().default(2),
  balancerDecay: z.number().min(0).lt(1).default(0.99),
});

export const Stage2LossSchema = z.strictObject({
  reconstruction: z.enum(['l1', 'l2']).default('l1'),
  /** Perceptual feature distance (0 turns it off). */
  perceptualWeight: z.number().min(0).default(0.1),
  /** Frozen network for the perceptual term (`@qlip/feature-nets`). */
  perceptualNetwork: z.enum(['mobilenet_v2', 'inception_v3']).default('mobilenet_v2'),
  /**
   * Images of each micro-batch that get the perceptual term (the first N). The network resizes to 224 px
   * and its backward keeps every activation: 64 images (32 pairs) overflow the 4 GB wasm heap.
   */
  perceptualImages: z.number().int().positive().default(4),
  /** Generator adversarial weight (0 turns the discriminator off); with `adaptive`, the factor on VQGAN's weight. */
  ganWeight: z.number().min(0).default(0.1),
  /**
   * `fixed`: the generator term is weighted by `ganWeight`. `adaptive`: VQGAN's
   * ||dRec/dW|| / (||dGan/dW|| + 1e-4) on the decoder's last layer W (clamped to [0, 1e4]) times `ganWeight`,
   * recomputed every step (two extra decoder backward passes).
   */
  ganWeightMode: z.enum(['fixed', 'adaptive']).default('fixed'),
  ganLoss: z.enum(['hinge', 'nonSaturating']).default('nonSaturating'),
  /** Step from which both GAN players train. */
  ganStart: z.number().int().min(0).default(0),
  discriminator: z
    .strictObject({
      baseChannels: z.number().int().positive().default(64),
      downsamples: z.number().int().positive().default(3),
      lr: z.number().positive().optional(),
    })
    .prefault({}),
});

export const LossSchema = z.strictObject({
  stage1: Stage1LossSchema.prefault({}),
  stage2: Stage2LossSchema.prefault({}),
});

export const CheckpointSchema = z.strictObject({
  /** Save every N optimizer steps (and always at the end). */
  every: z.number().int().positive().default(1000),
  /** Newest checkpoints kept. */
  keep: z.number().int().positive().default(3),
});

export const EmaSchema = z.strictObject({
  /** 0 turns EMA off; e.g. 0.999. */
  decay: z.number().min(0).lt(1).default(0),
});

/** Test hooks; never set in a real run. */
export const DebugSchema = z.strictObject({
  /** Make the reconstruction term NaN at this (1-based) step. */
  nanAtStep: z.number().int().positive().optional(),
});

export const TrainConfigSchema = z
  .strictObject({
    /** 1: everything with rec + BSQ + contrastive; 2: quant_embed_post + decoder with rec + perceptual + GAN. */
    stage: z.union([z.literal(1), z.literal(2)]).default(1),
    /** Total optimizer steps of the run (a resumed run continues up to this). */
    steps: z.number().int().positive(),
    /** Model init, discriminator init (data has its own `data.seed`). */
    seed: z.number().int().min(0).default(0),
    model: ModelSectionSchema.prefault({}),
    data: DataConfigSchema,
    optimizer: OptimizerSchema.prefault({}),
    schedule: ScheduleSchema.prefault({}),
    loss: LossSchema.prefault({}),
    checkpoint: CheckpointSchema.prefault({}),
    ema: EmaSchema.prefault({}),
    debug: DebugSchema.prefault({}),
  })
  .superRefine((c, ctx) => {
    const size = (c.model as { vision_config?: { image_size?: number } }).vision_config?.image_size ?? 224;
    if (c.data.imageSize !== size) {
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'imageSize'],
        message: `${c.data.imageSize} must equal model.vision_config.image_size (${size})`,
      });
    }
  });

export type TrainConfig = z.output<typeof TrainConfigSchema>;

/**
 * Merge layers (later wins; a layer that sets `data.source.kind` replaces the whole source) and validate.
 * Every problem is listed as `key.path: message (from <layer>)`, where the layer is the last one that set
 * the key (an unknown key is named with its full path and the closest known key).
 */
export function resolveTrainConfig(layers: ConfigLayer[]): TrainConfig {
  return resolveConfig(TrainConfigSchema, layers, 'training configuration');
}

/** `resolveTrainConfig` plus where each value came from (layer source or `default`), for `--print-config`. */
export function explainTrainConfig(layers: ConfigLayer[]): ResolvedConfig<TrainConfig> {
  return resolveConfigWithOrigins(TrainConfigSchema, layers, 'training configuration');
}

/** Directory of the bundled presets (`presets/<name>.json`). */
export const PRESET_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'presets');

export const PRESETS = ['tiny-mnist', 'tiny-emoji', 'bench-s', 'qlip-b-16-256'] as const;

/** A bundled preset as a config layer; errors list the valid names. */
export function presetLayer(name: string): ConfigLayer {
  if (!(PRESETS as readonly string[]).includes(name)) {
    throw new Error(`unknown preset "${name}" (expected one of ${PRESETS.join(', ')})`);
  }
  const values = readJsonConfig(join(PRESET_DIR, `${name}.json`));
  // bench-s's model, optimizer and loss weights are the PyTorch peer's (fixtures/bench-s.json), read here.
  if (name === 'bench-s') return { source: `preset ${name}`, values: deepMerge(benchSTrainValues(), values) };
  return { source: `preset ${name}`, values };
}
