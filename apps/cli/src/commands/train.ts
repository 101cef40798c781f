import { Flags } from '@oclif/core';
import type { ConfigOrigins } from '@qlip/core';
import { explainTrainConfig, PRESETS, type TrainConfig, type TrainResult, train } from '@qlip/trainer';
import { QlipCommand } from '../lib/base.js';
import { resolveModelDir } from '../lib/model.js';
import { createProgressRenderer } from '../lib/progress.js';
import { renderConfig, smallDataWarning, trainConfigLayers } from '../lib/train-config.js';

/** `--print-config`: the resolved config and where each value came from. */
export interface PrintedConfig {
  config: TrainConfig;
  origins: ConfigOrigins;
}

export default class Train extends QlipCommand {
  static override summary =
    'Train a QLIP tokenizer (stage 1: contrastive + reconstruction; stage 2: decoder fine-tune)';
  static override description =
    'The config is layered: --preset < --config file < flags (a --resume without --preset starts from the ' +
    "checkpoint's own config); --print-config shows the result and where each value came from. --data picks " +
    'the source from what it names: a folder of images with .txt captions, a class-folder tree (captions from ' +
    '--caption-template), a .jsonl/.csv/.tsv manifest, WebDataset .tar shards (path, brace pattern or URL), or ' +
    'mnist/emoji; it replaces the whole data.source of the preset. Checkpoints go to OUT/step-NNNNNN/ ' +
    '(official model layout + optimizer.safetensors + ' +
    'trainer_state.json), one metrics line per step to OUT/metrics.jsonl. OUT is locked while the run writes it; a ' +
    'non-empty OUT needs --resume or --overwrite. Ctrl-C, SIGTERM or SIGHUP write a checkpoint and stop (exit 130, ' +
    '143, 129). A longer --steps on --resume needs --extend (the cosine continues from the current rate). ' +
    'Stage 2 keeps the vision encoder, bottleneck input side and text tower bit-identical: start it with --init ' +
    'from a stage-1 checkpoint.';
  static override examples = [
    '<%= config.bin %> train --preset tiny-mnist --out runs/mnist',
    '<%= config.bin %> train --preset tiny-mnist --data my-images/ --out runs/mine',
    '<%= config.bin %> train --data pets/ --caption-template "a photo of a {c}, a type of pet." --out runs/pets',
    "<%= config.bin %> train --data 'shards/{00000..00099}.tar' --config my.json --print-config",
    '<%= config.bin %> train --preset tiny-mnist --out runs/quick --steps 200 --batch-size 16 --lr 3e-4',
    '<%= config.bin %> train --out runs/mnist --resume runs/mnist',
    '<%= config.bin %> train --out runs/mnist --resume runs/mnist --steps 6000 --extend',
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
    data: Flags.string({
      description:
        'training data: folder (a.jpg + a.txt captions, or <class>/ folders), .jsonl/.csv/.tsv manifest, .tar shards or brace pattern (path or URL), mnist, emoji',
    }),
    'caption-template': Flags.string({
      description: 'caption template for class folders / built-ins, {c} = class name (repeat for several)',
      multiple: true,
    }),
    'print-config': Flags.boolean({
      description:
        'print the resolved config with where each value came from (preset, file, flag, default) and exit',
    }),
    out: Flags.string({ description: 'run directory for checkpoints and metrics.jsonl (required to train)' }),
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
    extend: Flags.boolean({
      description:
        'with --resume and more --steps than the run was scheduled for: continue the cosine from the current learning rate down to minLr at the new end (without it such a resume is refused)',
      dependsOn: ['resume'],
    }),
    overwrite: Flags.boolean({
      description: 'replace a previous run in a non-empty --out (its checkpoints, latest and metrics.jsonl)',
      exclusive: ['resume'],
    }),
  };

  async run(): Promise<TrainResult | PrintedConfig> {
    const { flags } = await this.parse(Train);
    // A bad --data, --config or flag value is a usage error (exit 2), named with the layer it came from.
    const { layers, note, samples } = await trainConfigLayers(flags).catch((e: Error) =>
      this.error(e.message, { exit: 2 }),
    );
    const { config, origins } = (() => {
      try {
        return explainTrainConfig(layers);
      } catch (e) {
        return this.error((e as Error).message, { exit: 2 });
      }
    })();
    if (note) this.note(note);
    const small = smallDataWarning(samples, config.data.batchSize);
    if (small) this.note(small);
    if (flags['print-config']) {
      this.log(renderConfig(origins, config));
      return { config, origins };
    }
    if (!flags.out)
      this.error('--out is required: the run directory for checkpoints and metrics.jsonl', { exit: 2 });
    const out = flags.out;
    const init = flags.init === undefined ? undefined : await resolveModelDir(flags.init);
    await this.initBackend(flags.backend);
    const progress = createProgressRenderer();
    try {
      const r = await this.withInterrupt(
        (signal) =>
          train(config, {
            out,
            init,
            resume: flags.resume,
            extend: flags.extend,
            overwrite: flags.overwrite,
            onProgress: progress.listener,
            signal,
          }),
        'finishing the current step and writing a checkpoint',
      );
      progress.stop();
      this.note(`${r.stopped} at step ${r.step}/${r.steps}; last checkpoint ${r.checkpoint ?? '(none)'}`);
      this.note(`${r.stepsPerSecond.toFixed(3)} steps/s, ${r.imagesPerSecond.toFixed(1)} images/s`);
      this.reportSkips(r.skipped);
      return r;
    } finally {
      progress.stop();
    }
  }
}
