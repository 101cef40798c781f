import { Args, Flags } from '@oclif/core';
import { generate, writeGenerated } from '@qlip/unified';
import { numberFlag, samplingFlags, UnifiedCommand, unifiedModelFlag } from '../lib/unified.js';

export default class Generate extends UnifiedCommand {
  static override summary =
    'Draw images from a text prompt with the unified model (KV cache, classifier-free guidance)';
  static override description =
    'Samples N token grids for PROMPT (each image token: one softmax per group of bits, mixed with the ' +
    "unconditional logits by --guidance), decodes them with the model's QLIP tokenizer and writes " +
    'OUT/sample-000.png ..., OUT/sample-grid.png, OUT/sample-tokens.npy (uint32 [n, h, w]) and the prompt. ' +
    'The same --seed gives the same tokens.';
  static override examples = [
    '<%= config.bin %> generate "a photo of the number 7" --n 8 --guidance 3 --seed 1 --out samples/',
    '<%= config.bin %> generate "a photo of the number seven." --n 64 --temperature 0.9 --top-k 64 --out s/ --json',
  ];
  static override args = { prompt: Args.string({ description: 'text prompt', required: true }) };
  static override flags = {
    ...unifiedModelFlag,
    ...samplingFlags,
    n: Flags.integer({ description: 'number of images', default: 8, min: 1 }),
    out: Flags.string({ char: 'o', description: 'output folder for PNGs and token grids', required: true }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 32, min: 1 }),
  };

  async run(): Promise<{
    prompt: string;
    n: number;
    files: string[];
    unknownTokens: number;
    seconds: number;
    imagesPerSecond: number;
  }> {
    const { args, flags } = await this.parse(Generate);
    const guidance = numberFlag('guidance', flags.guidance);
    const temperature = numberFlag('temperature', flags.temperature, 1e-6);
    return this.withUnified(flags, async (p) => {
      const g = await generate(p, args.prompt, {
        n: flags.n,
        seed: flags.seed,
        guidance,
        temperature,
        topK: flags['top-k'],
        batchSize: flags['batch-size'],
      });
      if (g.unknownTokens)
        this.note(
          `warning: ${g.unknownTokens} token(s) of the prompt are outside the model's vocabulary (read as <unk>)`,
        );
      const files = await writeGenerated(flags.out, 'sample', g, p.model.config.image_grid);
      this.log(
        `${flags.n} images for "${args.prompt}" -> ${flags.out} (${(flags.n / g.seconds).toFixed(1)} images/s)`,
      );
      return {
        prompt: args.prompt,
        n: flags.n,
        files,
        unknownTokens: g.unknownTokens,
        seconds: g.seconds,
        imagesPerSecond: flags.n / g.seconds,
      };
    });
  }
}
