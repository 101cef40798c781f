import { readFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { evaluateZeroShot, type ZeroShotJobResult } from '@qlip/eval';
import { QlipCommand } from '../../lib/base.js';
import { modelFlags } from '../../lib/model.js';

export default class EvalZeroShot extends QlipCommand {
  static override summary = 'Zero-shot classification accuracy of a tokenizer (CLIP prompt ensembling)';
  static override description =
    `--data is a built-in (mnist: the 10,000 test digits; emoji: 3.8k emoji by category), a class-folder
tree (sub-folder names are the classes), or a JSONL/CSV/TSV manifest with image and label columns (then
--classes names the labels). Every class name fills every template; each class's text embeddings are
averaged (prompt ensembling) and each image goes to the most similar class. Reports top-1, top-5,
per-class accuracy and a confusion matrix; --out writes report.md and confusion.png.`;
  static override examples = [
    '<%= config.bin %> eval zero-shot --data mnist --limit 1000',
    '<%= config.bin %> eval zero-shot --data mnist --limit 1000 --per-image wrong.csv',
    '<%= config.bin %> eval zero-shot --model my-model --data photos/ --templates prompts.txt --out report/ --json',
  ];
  static override flags = {
    ...modelFlags,
    data: Flags.string({
      char: 'd',
      description: 'mnist | emoji | class-folder tree | labelled manifest',
      required: true,
    }),
    classes: Flags.string({ description: 'file with one class name per line, in label order (manifests)' }),
    templates: Flags.string({
      description:
        "file with one prompt template per line, {} = class name (default: CLIP's 80 ImageNet templates)",
    }),
    limit: Flags.integer({ description: 'evaluate only the first N images', min: 1 }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 32, min: 1 }),
    'per-image': Flags.string({
      description:
        'also write one row per image to this .csv or .jsonl file (the format follows the extension)',
    }),
    out: Flags.string({ char: 'o', description: 'folder for report.md and confusion.png' }),
  };

  async run(): Promise<ZeroShotJobResult> {
    const { flags } = await this.parse(EvalZeroShot);
    const templates = flags.templates ? await readLines(flags.templates) : undefined;
    const r = await this.withRuntime(flags, (ctx) =>
      evaluateZeroShot(ctx.runtime, {
        data: flags.data,
        classesFile: flags.classes,
        templates,
        limit: flags.limit,
        batchSize: flags['batch-size'],
        out: flags.out,
        perImage: flags['per-image'],
        modelName: ctx.modelDir,
        onProgress: ctx.onProgress,
        signal: ctx.signal,
      }),
    );
    this.log(
      `zero-shot on ${r.data}: top-1 ${(100 * r.top1).toFixed(2)}%, top-5 ${(100 * r.top5).toFixed(2)}% ` +
        `(${r.images} images, ${r.classes.length} classes, ${r.templates} templates, ${r.failed.length} unreadable)`,
    );
    for (const f of r.files) this.log(`wrote ${f}`);
    return r;
  }
}

async function readLines(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(
      `${file}: cannot read the templates file (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0)
    throw new Error(`${file}: no templates (expected one per line with {} for the class name)`);
  return lines;
}
