import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ConfigLayer, resolveConfig } from '@qlip/core';
import { SourceSchema } from '@qlip/data';
import { z } from 'zod';
import { ImageHeadSchema } from './config.js';

/** Presets shipped in `packages/unified/presets/*.json`. */
export const UNIFIED_PRESETS = ['um-tiny-mnist', 'um-emoji', 'um-qlip-b'] as const;
export const UNIFIED_PRESET_DIR = fileURLToPath(new URL('../presets/', import.meta.url));

/** Everything `qlip unified train` needs; saved resolved in every checkpoint's trainer_state.json. */
export const UnifiedTrainConfigSchema = z
  .object({
    model: z
      .object({
        hidden_size: z.number().int().positive(),
        num_hidden_layers: z.number().int().positive(),
        num_attention_heads: z.number().int().positive(),
        intermediate_size: z.number().int().positive(),
        max_position_embeddings: z.number().int().positive(),
        /** Default: groups of the tokenizer's BSQ group size. */
        image_head: ImageHeadSchema.optional(),
      })
      .strict(),
    /** The frozen QLIP tokenizer: a directory, or `pretrained:<name>`. */
    tokenizer: z.string().min(1).default('pretrained:qlip-tiny-mnist'),
    data: z
      .object({
        source: SourceSchema,
        /** Seed of the caption draw (sources with several templates) when the token cache is built. */
        seed: z.number().int().nonnegative().default(0),
      })
      .strict(),
    /** Fractions of text-to-image, image-to-text and text-only sequences. */
    tasks: z
      .object({
        t2i: z.number().nonnegative().default(0.5),
        i2t: z.number().nonnegative().default(0.4),
        text: z.number().nonnegative().default(0.1),
      })
      .strict()
      .default({ t2i: 0.5, i2t: 0.4, text: 0.1 }),
    /**
     * Weights of the two loss terms (each a mean NLL per trained token). Captions carry one informative word
     * among several fixed ones, so the text mean dilutes it: a text weight > 1 gives captioning its share.
     */
    lossWeights: z
      .object({
        text: z.number().nonnegative().default(1),
        image: z.number().nonnegative().default(1),
      })
      .strict()
      .default({ text: 1, image: 1 }),
    /** Probability that a t2i caption is replaced by `<pad>`s (classifier-free guidance). */
    conditionDropout: z.number().min(0).max(1).default(0.1),
    /** Bitwise self-correction: probability of flipping each input image bit (targets stay true). */
    selfCorrection: z.number().min(0).max(0.5).default(0),
    /** Words of a caption that may be written another way in prompts (`seven` -> `7`), for t2i/text only. */
    aliases: z.record(z.string(), z.array(z.string().min(1))).default({}),
    aliasProbability: z.number().min(0).max(1).default(0.5),
    /** Probability of dropping a prompt-side caption's final punctuation (t2i/text only). */
    dropFinalPunctuation: z.number().min(0).max(1).default(0),
    batchSize: z.number().int().positive(),
    steps: z.number().int().positive(),
    seed: z.number().int().nonnegative().default(0),
    optimizer: z
      .object({
        lr: z.number().positive(),
        betas: z.tuple([z.number(), z.number()]).default([0.9, 0.95]),
        eps: z.number().positive().default(1e-8),
        weightDecay: z.number().nonnegative().default(0.01),
        clipNorm: z.number().nonnegative().default(1),
      })
      .strict(),
    schedule: z
      .object({
        warmupSteps: z.number().int().nonnegative().default(100),
        minLr: z.number().nonnegative().default(0),
        kind: z.enum(['cosine', 'constant']).default('cosine'),
      })
      .strict()
      .default({ warmupSteps: 100, minLr: 0, kind: 'cosine' }),
    checkpoint: z
      .object({
        every: z.number().int().positive().default(500),
        keep: z.number().int().positive().default(2),
      })
      .strict()
      .default({ every: 500, keep: 2 }),
  })
  .strict();
export type UnifiedTrainConfig = z.output<typeof UnifiedTrainConfigSchema>;

/** The JSON layer of a preset; unknown names list the available ones. */
export function unifiedPresetLayer(name: string): ConfigLayer {
  if (!(UNIFIED_PRESETS as readonly string[]).includes(name))
    throw new Error(`unknown unified preset "${name}" (expected one of ${UNIFIED_PRESETS.join(', ')})`);
  const path = `${UNIFIED_PRESET_DIR}${name}.json`;
  return {
    source: `preset ${name}`,
    values: JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>,
  };
}

/** preset < file < flags, validated; errors name the key and the layer. */
export function resolveUnifiedConfig(layers: ConfigLayer[]): UnifiedTrainConfig {
  return resolveConfig(UnifiedTrainConfigSchema, layers) as UnifiedTrainConfig;
}

/** The resolved config a run saved in its checkpoint (`--resume` without `--preset`). */
export async function unifiedCheckpointLayer(path: string): Promise<ConfigLayer> {
  const { resolveCheckpoint, STATE_FILE } = await import('@qlip/trainer');
  const dir = await resolveCheckpoint(path);
  const file = `${dir}/${STATE_FILE}`;
  const state = JSON.parse(readFileSync(file, 'utf8')) as { config?: Record<string, unknown> };
  if (!state.config) throw new Error(`${file}: no "config" (not a unified training checkpoint)`);
  return { source: file, values: state.config };
}
