import { Flags } from '@oclif/core';
import { type ConfigLayer, readJsonConfig } from '@qlip/core';
import {
  resolveUnifiedConfig,
  trainUnified,
  UNIFIED_PRESETS,
  type UnifiedTrainResult,
  unifiedCheckpointLayer,
  unifiedPresetLayer,
} from '@qlip/unified';
import { interruptSignal, QlipCommand } from '../../lib/base.js';
import { createProgressRenderer } from '../../lib/progress.js';

export default class UnifiedTrain extends QlipCommand {
  static override summary = 'Train a unified model (text <-> QLIP image tokens in one causal transformer)';
  static override description =
    'Tokenizes the data once with the frozen --tokenizer (default the shipped qlip-tiny-mnist) into OUT/tokens ' +
    '(a token dataset with captions), then trains on mixed text-to-image, image-to-text and text-only sequences. ' +
    "Config layers: --preset < --config < flags (--resume without --preset reuses the checkpoint's config). " +
    'Checkpoints: OUT/step-NNNNNN/ (config.json + model.safetensors + optimizer + trainer_state.json); ' +
    'Ctrl-C writes a checkpoint and stops; --resume continues bit-exactly. See docs/unified.md.';
  static override examples = [
    '<%= config.bin %> unified train --preset um-tiny-mnist --out runs/um',
    '<%= config.bin %> unified train --preset um-emoji --out runs/um-emoji --steps 500',
    '<%= config.bin %> unified train --out runs/um --resume runs/um --steps 2000',
  ];
  static override flags = {
    preset: Flags.string({
      description: 'bundled preset (default um-tiny-mnist unless resuming)',
      options: [...UNIFIED_PRESETS],
    }),
    config: Flags.string({
      description: 'JSON config file overriding the preset (keys of trainer_state.json "config")',
    }),
    out: Flags.string({ description: 'run directory (checkpoints, metrics.jsonl, tokens/)', required: true }),
    tokenizer: Flags.string({ description: 'QLIP tokenizer directory (frozen), or pretrained:<name>' }),
    steps: Flags.integer({ description: 'total optimizer steps', min: 1 }),
    'batch-size': Flags.integer({ description: 'sequences per step', min: 1 }),
    lr: Flags.string({ description: 'peak learning rate, e.g. 1e-3' }),
    seed: Flags.integer({ description: 'seed of init and batches', min: 0 }),
    cache: Flags.string({ description: 'token cache directory (default OUT/tokens; reusable across runs)' }),
    resume: Flags.string({ description: 'continue from a checkpoint or run directory (its latest)' }),
  };

  async run(): Promise<UnifiedTrainResult> {
    const { flags } = await this.parse(UnifiedTrain);
    const layers: ConfigLayer[] = [];
    if (flags.resume && !flags.preset) layers.push(await unifiedCheckpointLayer(flags.resume));
    else layers.push(unifiedPresetLayer(flags.preset ?? 'um-tiny-mnist'));
    if (flags.config) layers.push({ source: flags.config, values: readJsonConfig(flags.config) });
    const lr = flags.lr === undefined ? undefined : Number(flags.lr);
    layers.push({
      source: 'command-line flags',
      values: {
        steps: flags.steps,
        batchSize: flags['batch-size'],
        seed: flags.seed,
        tokenizer: flags.tokenizer,
        optimizer: { lr: Number.isNaN(lr) ? flags.lr : lr },
      },
    });
    const config = resolveUnifiedConfig(layers);
    await this.initBackend(flags.backend);
    const progress = createProgressRenderer();
    const interrupt = interruptSignal((m) => this.note(m));
    try {
      const r = await trainUnified(config, {
        out: flags.out,
        resume: flags.resume,
        cache: flags.cache,
        onProgress: progress.listener,
        signal: interrupt.signal,
      });
      progress.stop();
      this.note(
        `${r.stopped} at step ${r.step}/${config.steps}; last checkpoint ${r.checkpoint ?? '(none)'}`,
      );
      this.note(
        `${r.images} captioned images, vocabulary ${r.vocabulary}, ${r.parameters} parameters, ${r.seconds.toFixed(0)} s`,
      );
      if (r.stopped === 'aborted') process.exitCode = 130;
      return r;
    } finally {
      progress.stop();
      interrupt.release();
    }
  }
}
