import { Flags } from '@oclif/core';
import { type ConfigLayer, readJsonConfig } from '@qlip/core';
import {
  checkpointConfigLayer,
  PRESETS,
  presetLayer,
  resolveTrainConfig,
  type TrainResult,
  train,
} from '@qlip/trainer';
import { QlipCommand } from '../lib/base.js';
import { resolveModelDir } from '../lib/model.js';
import { createProgressRenderer } from '../lib/progress.js';

export default class Train extends QlipCommand {
  static override summary =
    'Train a QLIP tokenizer (stage 1: contrastive + reconstruction; stage 2: decoder fine-tune)';
  static override description =
    'The config is layered: --preset < --config file < flags (a --resume without --preset starts from the ' +
    "checkpoint's own config). Checkpoints go to OUT/step-NNNNNN/ (official model layout + optimizer.safetensors + " +
    'trainer_state.json), one metrics line per step to OUT/metrics.jsonl. Ctrl-C writes a checkpoint and stops. ' +
    'Stage 2 keeps the vision encoder, bottleneck input side and text tower bit-identical: start it with --init ' +
    'from a stage-1 checkpoint.';
  static override examples = [
    '<%= config.bin %> train --preset tiny-mnist --out runs/mnist',
    '<%= config.bin %> train --preset tiny-mnist --out runs/quick --steps 200 --batch-size 16 --lr 3e-4',
    '<%= config.bin %> train --out runs/mnist --resume runs/mnist --steps 3000',
    '<%= config.bin %> train --preset tiny-mnist --stage 2 --init runs/mnist/step-003000 --out runs/mnist-s2',
    '<%= config.bin %> train --preset bench-s --config my-data.json --init hf/clip-vit-b16 --out runs/b --json',
  ];
  static override flags = {
    preset: Flags.string({
      description: 'bundled preset (default tiny-mnist unless resuming)',
      options: [...PRESETS],
    }),
    config: Flags.string({
      description: 'JSON config file overriding the preset (same keys as trainer_state.json "config")',
    }),
    out: Flags.string({ description: 'run directory for checkpoints and metrics.jsonl', required: true }),
    steps: Flags.integer({ description: 'total optimizer steps', min: 1 }),
    'batch-size': Flags.integer({ description: 'images per micro-batch (data.batchSize)', min: 1 }),
    lr: Flags.string({ description: 'peak learning rate (optimizer.lr), e.g. 1e-3' }),
    stage: Flags.integer({ description: '1 (all towers) or 2 (quant_embed_post + decoder)', min: 1, max: 2 }),
    init: Flags.string({
      description:
        'start from a QLIP checkpoint (official or ours) or a CLIP-style HF checkpoint: a directory or a hub id org/name[@revision]',
    }),
    resume: Flags.string({
      description: 'continue from a checkpoint directory or a run directory (its latest)',
    }),
  };

  async run(): Promise<TrainResult> {
    const { flags } = await this.parse(Train);
    const layers: ConfigLayer[] = [];
    if (flags.resume && !flags.preset) layers.push(await checkpointConfigLayer(flags.resume));
    else layers.push(presetLayer(flags.preset ?? 'tiny-mnist'));
    if (flags.config) layers.push({ source: flags.config, values: readJsonConfig(flags.config) });
    const lr = flags.lr === undefined ? undefined : Number(flags.lr);
    const values = {
      steps: flags.steps,
      stage: flags.stage,
      data: { batchSize: flags['batch-size'] },
      optimizer: { lr: Number.isNaN(lr) ? flags.lr : lr },
    };
    layers.push({ source: 'command-line flags', values });
    const config = resolveTrainConfig(layers);
    await this.initBackend(flags.backend);
    const progress = createProgressRenderer();
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      const r = await train(config, {
        out: flags.out,
        init: flags.init === undefined ? undefined : await resolveModelDir(flags.init),
        resume: flags.resume,
        onProgress: progress.listener,
        signal: abort.signal,
      });
      progress.stop();
      this.note(`${r.stopped} at step ${r.step}/${r.steps}; last checkpoint ${r.checkpoint ?? '(none)'}`);
      this.note(`${r.stepsPerSecond.toFixed(3)} steps/s, ${r.imagesPerSecond.toFixed(1)} images/s`);
      return r;
    } finally {
      progress.stop();
      process.removeListener('SIGINT', onSigint);
    }
  }
}
