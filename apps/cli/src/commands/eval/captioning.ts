import { Flags } from '@oclif/core';
import { type CaptionEvalResult, evaluateCaptioning } from '@qlip/unified';
import { UnifiedCommand, unifiedModelFlag } from '../../lib/unified.js';

export default class EvalCaptioning extends UnifiedCommand {
  static override summary = 'Evaluate captioning: BLEU-4, CIDEr-D and class-word exact match';
  static override description =
    "Greedy captions of every image of --data against its own captions (a built-in's template captions, a " +
    "manifest's caption column, sidecar .txt files). Exact match: the caption contains the image's class name.";
  static override examples = [
    '<%= config.bin %> eval captioning --data mnist --json',
    '<%= config.bin %> eval captioning --data emoji --out reports/cap',
  ];
  static override flags = {
    ...unifiedModelFlag,
    data: Flags.string({
      description: 'mnist (test split), emoji, a manifest, a folder with .txt captions',
      default: 'mnist',
    }),
    limit: Flags.integer({ description: 'evaluate a seeded sample of this many images', min: 1 }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 128, min: 1 }),
    out: Flags.string({ char: 'o', description: 'write report.md with image/caption pairs here' }),
  };

  async run(): Promise<CaptionEvalResult> {
    const { flags } = await this.parse(EvalCaptioning);
    const r = await this.withUnified(flags, (p, onProgress) =>
      evaluateCaptioning(p, {
        data: flags.data,
        ...(flags.limit ? { limit: flags.limit } : {}),
        batchSize: flags['batch-size'],
        out: flags.out,
        onProgress,
      }),
    );
    const em = r.exactMatch === null ? '' : `, exact match ${(100 * r.exactMatch).toFixed(2)}%`;
    this.log(`${r.images} images: BLEU-4 ${r.bleu4.toFixed(4)}, CIDEr-D ${r.ciderD.toFixed(4)}${em}`);
    return r;
  }
}
