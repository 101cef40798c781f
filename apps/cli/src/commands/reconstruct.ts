import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Args, Flags } from '@oclif/core';
import {
  modelFingerprint,
  type ReconstructResult,
  reconstructDataset,
  reconstructImages,
} from '@qlip/tokenize';
import { maxFileBytesFlag, QlipCommand } from '../lib/base.js';
import { backgroundFlag, modelFlags, recordedModel } from '../lib/model.js';

export default class Reconstruct extends QlipCommand {
  static override summary =
    'Encode and decode images through the tokenizer, or decode a tokenized dataset, to PNGs';
  static override description =
    `INPUT is either a folder of images (each is tokenized and decoded back) or a folder written by
\`qlip tokenize\` (its tokens are decoded). PNGs are written under OUT with the input's relative paths.
--side-by-side puts the (preprocessed) input left of its reconstruction.`;
  static override examples = [
    '<%= config.bin %> reconstruct photos/ --model my-model --out recon/ --side-by-side',
    '<%= config.bin %> reconstruct tokens/ --out decoded/    # the model recorded in tokens/meta.json',
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
    ...backgroundFlag,
    out: Flags.string({ char: 'o', description: 'output folder for PNGs', required: true }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 16, min: 1 }),
    'side-by-side': Flags.boolean({ description: 'write input | reconstruction pairs (image folders only)' }),
    'max-file-bytes': maxFileBytesFlag,
  };

  async run(): Promise<ReconstructResult> {
    const { args, flags } = await this.parse(Reconstruct);
    const dataset = existsSync(join(args.input, 'meta.json'));
    // A dataset decodes with the model that made it unless --model says otherwise.
    const recorded = dataset ? await recordedModel(args.input) : undefined;
    const say = (m: string) => process.stderr.write(`${m}\n`);
    if (recorded && !flags.model) say(`decoding with the model recorded in ${join(args.input, 'meta.json')}`);
    const model = flags.model ?? recorded?.spec;
    const result = await this.withRuntime({ ...flags, ...(model ? { model } : {}) }, async (ctx) => {
      if (recorded && flags.model && (await modelFingerprint(ctx.modelDir)) !== recorded.fingerprint) {
        say(
          `warning: ${flags.model} is not the model that tokenized ${args.input} (meta.json records ${recorded.spec}): ` +
            'the images will not match; omit --model to use the recorded one',
        );
      }
      return (dataset ? reconstructDataset : reconstructImages)(ctx.runtime, {
        input: args.input,
        out: flags.out,
        batchSize: flags['batch-size'],
        sideBySide: flags['side-by-side'],
        alpha: ctx.alpha,
        maxFileBytes: flags['max-file-bytes'],
        onProgress: ctx.onProgress,
        signal: ctx.signal,
      });
    });
    this.log(
      `${result.written} PNGs written to ${result.out} (${result.mode}, ${result.imagesPerSecond.toFixed(1)} img/s)`,
    );
    this.reportSkips(result.skipped);
    return result;
  }
}
