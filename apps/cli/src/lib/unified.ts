import { Flags } from '@oclif/core';
import type { ProgressListener } from '@qlip/core';
import { DEFAULT_UNIFIED_MODEL_NAME } from '@qlip/pretrained';
import { loadUnified, type UnifiedPipeline } from '@qlip/unified';
import { interruptSignal, QlipCommand } from './base.js';
import { createProgressRenderer } from './progress.js';

/** `--model` of the unified commands. */
export const unifiedModelFlag = {
  model: Flags.string({
    char: 'm',
    description: `unified model directory (config.json + model.safetensors); default: the shipped ${DEFAULT_UNIFIED_MODEL_NAME}`,
  }),
};

/** Sampling flags shared by generate and eval generation. */
export const samplingFlags = {
  guidance: Flags.string({
    description: 'classifier-free guidance scale s (logits u + s(c - u); 1 = off)',
    default: '3',
  }),
  temperature: Flags.string({ description: 'softmax temperature of each image-token group', default: '1' }),
  'top-k': Flags.integer({
    description: 'keep the k most likely values per group (0 = all)',
    default: 0,
    min: 0,
  }),
  seed: Flags.integer({ description: 'sampling seed (same seed, same tokens)', default: 0, min: 0 }),
};

/** A positive finite number from a string flag, or a clear error naming the flag. */
export function numberFlag(name: string, value: string, min = 0): number {
  const v = Number(value);
  if (!Number.isFinite(v) || v < min)
    throw new Error(`--${name}: expected a number >= ${min}, got "${value}"`);
  return v;
}

/** Base of the unified-model commands: backend, model + tokenizer, progress and Ctrl-C around one job. */
export abstract class UnifiedCommand extends QlipCommand {
  protected async withUnified<T>(
    flags: { model?: string; backend: string },
    job: (p: UnifiedPipeline, onProgress: ProgressListener, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    await this.initBackend(flags.backend);
    const p = await loadUnified(flags.model);
    const progress = createProgressRenderer();
    const interrupt = interruptSignal((m) => this.note(m));
    try {
      return await job(p, progress.listener, interrupt.signal);
    } finally {
      progress.stop();
      interrupt.release();
      p.dispose();
    }
  }
}
