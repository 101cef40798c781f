import { Args, Flags } from '@oclif/core';
import { modelFingerprint, type TokenizeResult, tokenizeDirectory } from '@qlip/tokenize';
import { maxFileBytesFlag, QlipCommand } from '../lib/base.js';
import { backgroundFlag, modelFlags } from '../lib/model.js';

export default class Tokenize extends QlipCommand {
  static override summary = 'Turn a folder of images into BSQ token grids (.npy shards, resumable)';
  static override description =
    `Searches DIR recursively for images (PNG, JPEG, WebP, AVIF, TIFF, GIF), preprocesses them like the
reference (shortest side -> image size, bicubic, centre crop, CLIP mean/std) and writes OUT/:
  tokens-00000.npy    uint32 [n, h, w] token indices (bits packed MSB-first)
  features-00000.npy  float16 [n, h*w, D] post-quantisation features (with --features)
  index.jsonl         {"path", "shard", "row", "sha256", "caption"?} per image (caption: a.txt beside a.png)
  meta.json           model, bits, grid, preprocessing
Re-running the same command resumes where it stopped. Unreadable files are reported and skipped.`;
  static override examples = [
    '<%= config.bin %> tokenize photos/ --model nvidia-QLIP-B-16-256 --out tokens/',
    '<%= config.bin %> tokenize photos/ -m my-model --out tokens/ --features --batch-size 32 --json',
  ];
  static override args = {
    dir: Args.directory({ description: 'folder of images', required: true, exists: true }),
  };
  static override flags = {
    ...modelFlags,
    ...backgroundFlag,
    out: Flags.string({
      char: 'o',
      description: 'output dataset folder (created, or resumed)',
      required: true,
    }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 16, min: 1 }),
    'shard-size': Flags.integer({ description: 'images per .npy shard', default: 4096, min: 1 }),
    features: Flags.boolean({ description: 'also write float16 post-quantisation features' }),
    strict: Flags.boolean({ description: 'exit non-zero (2) if any input was skipped' }),
    'max-file-bytes': maxFileBytesFlag,
  };

  async run(): Promise<TokenizeResult> {
    const { args, flags } = await this.parse(Tokenize);
    const result = await this.withRuntime(
      flags,
      async (ctx) =>
        tokenizeDirectory(ctx.runtime, {
          input: args.dir,
          out: flags.out,
          // Only a tokenized dataset records which weights made it, so only tokenize hashes them.
          model: { path: ctx.modelDir, fingerprint: await modelFingerprint(ctx.modelDir) },
          batchSize: flags['batch-size'],
          shardSize: flags['shard-size'],
          features: flags.features,
          alpha: ctx.alpha,
          maxFileBytes: flags['max-file-bytes'],
          onProgress: ctx.onProgress,
          signal: ctx.signal,
          createdBy: `qlip ${this.config.version}`,
        }),
      { needsTfjs: flags.features ? 'post-quantisation features (--features) come from tfjs' : undefined },
    );
    this.log(
      `${result.tokenized} images tokenized (${result.alreadyDone} already done, ${result.failed.length} unreadable) ` +
        `-> ${result.out} [${result.grid.join('x')} tokens of ${result.bits} bits, ${result.imagesPerSecond.toFixed(1)} img/s]`,
    );
    this.reportSkips(result.skipped);
    if (result.interrupted) this.note('interrupted: run the same command again to resume');
    if (flags.strict && result.skipped.total > 0) {
      this.error(
        `${result.skipped.total} input(s) skipped, ${result.failed.length} file(s) could not be read (--strict)`,
        {
          exit: 2,
        },
      );
    }
    return result;
  }
}
