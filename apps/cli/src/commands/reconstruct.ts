import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { type ReconstructResult, reconstructDataset, reconstructImages } from '@qlip/tokenize';
import { QlipCommand } from '../lib/base.js';
import { modelFlags } from '../lib/model.js';

export default class Reconstruct extends QlipCommand {
  static override summary =
    'Encode and decode images through the tokenizer, or decode a tokenized dataset, to PNGs';
  static override description =
    `INPUT is either a folder of images (each is tokenized and decoded back) or a folder written by
\`qlip tokenize\` (its tokens are decoded). PNGs are written under OUT with the input's relative paths.
--side-by-side puts the (preprocessed) input left of its reconstruction.`;
  static override examples = [
    '<%= config.bin %> reconstruct photos/ --model my-model --out recon/ --side-by-side',
    '<%= config.bin %> reconstruct tokens/ --model my-model --out decoded/',
  ];
  static override args = {
    input: Args.directory({
      description: 'images folder or tokenized dataset',
      required: true,
      exists: true,
    }),
  };
  static override flags = {
    ...modelFlags,
    out: Flags.string({ char: 'o', description: 'output folder for PNGs', required: true }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 16, min: 1 }),
    'side-by-side': Flags.boolean({ description: 'write input | reconstruction pairs (image folders only)' }),
  };

  async run(): Promise<ReconstructResult> {
    const { args, flags } = await this.parse(Reconstruct);
    const job = existsSync(join(args.input, 'meta.json')) ? reconstructDataset : reconstructImages;
    const result = await this.withRuntime(flags, (ctx) =>
      job(ctx.runtime, {
        input: args.input,
        out: flags.out,
        batchSize: flags['batch-size'],
        sideBySide: flags['side-by-side'],
        onProgress: ctx.onProgress,
        signal: ctx.signal,
      }),
    );
    this.log(
      `${result.written} PNGs written to ${result.out} (${result.mode}, ${result.imagesPerSecond.toFixed(1)} img/s)`,
    );
    for (const f of result.failed) this.note(`unreadable: ${f.path}: ${f.reason}`);
    return result;
  }
}
