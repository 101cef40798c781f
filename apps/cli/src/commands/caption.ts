import { Args, Flags } from '@oclif/core';
import { captionFiles } from '@qlip/unified';
import { UnifiedCommand, unifiedModelFlag } from '../lib/unified.js';

export default class Caption extends UnifiedCommand {
  static override summary = 'Caption images with the unified model (greedy decoding)';
  static override description =
    'Each image is preprocessed like the tokenizer expects, turned into QLIP tokens, and the model writes text ' +
    'after <bos> <boi> image <eoi>. Prints {"captions": [{"path", "caption"}]} with --json.';
  static override examples = [
    '<%= config.bin %> caption digit.png other.png',
    '<%= config.bin %> caption imgs/*.png --json',
  ];
  static override strict = false;
  static override args = { paths: Args.string({ description: 'image files', required: true }) };
  static override flags = {
    ...unifiedModelFlag,
    'batch-size': Flags.integer({ description: 'images per model call', default: 64, min: 1 }),
  };

  async run(): Promise<{ captions: { path: string; caption: string }[] }> {
    const { argv, flags } = await this.parse(Caption);
    const paths = argv as string[];
    return this.withUnified(flags, async (p) => {
      const captions = await captionFiles(p, paths, flags['batch-size']);
      for (const c of captions) this.log(`${c.path}\t${c.caption}`);
      return { captions };
    });
  }
}
