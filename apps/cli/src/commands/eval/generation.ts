import { Flags } from '@oclif/core';
import { evaluateGeneration, type GenerationEvalResult } from '@qlip/unified';
import { numberFlag, samplingFlags, UnifiedCommand, unifiedModelFlag } from '../../lib/unified.js';

export default class EvalGeneration extends UnifiedCommand {
  static override summary =
    'Evaluate text-to-image: prompt accuracy, diversity, Frechet distance, sample grids';
  static override description =
    'For each class, N images from the prompt TEMPLATE (or --prompts FILE, one per class in label order). Prompt ' +
    "accuracy: the tokenizer's own zero-shot classifier (80 CLIP templates) agrees with the prompt's class. " +
    'Diversity: distinct token grids / N. Frechet distance on a feature net (nsfwjs weights, NOT standard FID) of ' +
    "generated vs real images, beside the tokenizer's own reconstructions of the same real images.";
  static override examples = [
    '<%= config.bin %> eval generation --n 50 --out reports/gen',
    '<%= config.bin %> eval generation --data mnist --n 100 --guidance 3 --fd none --json',
  ];
  static override flags = {
    ...unifiedModelFlag,
    ...samplingFlags,
    data: Flags.string({
      description: 'real images and class names: mnist (test split), emoji, a class folder',
      default: 'mnist',
    }),
    template: Flags.string({
      description: 'prompt template with {c} for the class name',
      default: 'a photo of the number {c}.',
    }),
    prompts: Flags.string({
      description: 'file with one prompt per class (label order) instead of --template',
    }),
    n: Flags.integer({ description: 'samples per prompt', default: 50, min: 1 }),
    fd: Flags.string({
      description: 'feature net of the Frechet distance',
      options: ['mobilenet_v2', 'inception_v3', 'none'],
      default: 'mobilenet_v2',
    }),
    'fd-images': Flags.integer({
      description: 'real test images for the Frechet distance',
      default: 500,
      min: 2,
    }),
    out: Flags.string({ char: 'o', description: 'write report.md and one grid per prompt here' }),
  };

  async run(): Promise<GenerationEvalResult> {
    const { flags } = await this.parse(EvalGeneration);
    const { readFile } = await import('node:fs/promises');
    const prompts = flags.prompts
      ? (await readFile(flags.prompts, 'utf8'))
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter(Boolean)
      : undefined;
    const r = await this.withUnified(flags, (p, onProgress) =>
      evaluateGeneration(p, {
        data: flags.data,
        template: flags.template,
        ...(prompts ? { prompts } : {}),
        n: flags.n,
        guidance: numberFlag('guidance', flags.guidance),
        temperature: numberFlag('temperature', flags.temperature, 1e-6),
        topK: flags['top-k'],
        seed: flags.seed,
        fd: flags.fd as 'mobilenet_v2' | 'inception_v3' | 'none',
        fdImages: flags['fd-images'],
        out: flags.out,
        onProgress,
      }),
    );
    this.log(
      `prompt accuracy ${(100 * r.promptAccuracy).toFixed(1)}%, diversity ${r.diversity.toFixed(3)}, ${r.imagesPerSecond.toFixed(1)} images/s`,
    );
    if (r.frechetDistance)
      this.log(
        `Frechet distance (${r.frechetDistance.network}): generated ${r.frechetDistance.generated.toFixed(2)}, reconstructions ${r.frechetDistance.reconstructions.toFixed(2)}`,
      );
    return r;
  }
}
