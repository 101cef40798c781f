import { Flags } from '@oclif/core';
import { type DemoResult, runDemo } from '@qlip/demo';
import { QlipCommand } from '../lib/base.js';
import { createProgressRenderer } from '../lib/progress.js';

export default class Demo extends QlipCommand {
  static override summary = 'Run the quick-start job: tokenize, reconstruct and evaluate MNIST digits';
  static override description =
    `With the shipped qlip-tiny-mnist checkpoint (or --model), writes MNIST test digits to OUT/images/ as a
class-folder tree, then runs what \`qlip tokenize\`, \`qlip reconstruct\`, \`qlip eval zero-shot\` and
\`qlip eval reconstruction\` run, and writes OUT/README.md linking the tokens, PNGs and reports.
Takes about a minute on 2 CPU cores.`;
  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --out demo-out --images 500 --json',
  ];
  static override flags = {
    out: Flags.string({ char: 'o', description: 'output folder', default: 'demo-out' }),
    images: Flags.integer({ description: 'MNIST test digits to use', default: 200, min: 10, max: 10000 }),
    model: Flags.string({ char: 'm', description: 'model directory (default: the shipped checkpoint)' }),
  };

  async run(): Promise<DemoResult> {
    const { flags } = await this.parse(Demo);
    await this.initBackend(flags.backend);
    const progress = createProgressRenderer();
    try {
      const r = await this.withInterrupt((signal) =>
        runDemo({
          out: flags.out,
          model: flags.model,
          images: flags.images,
          onProgress: progress.listener,
          signal,
        }),
      );
      this.log(
        `tokenized ${r.tokenize.total} digits -> ${r.out}/tokens (${r.tokenize.grid.join('x')} tokens of ${r.tokenize.bits} bits)`,
      );
      this.log(
        `zero-shot top-1 ${(100 * r.zeroShot.top1).toFixed(1)}%; reconstruction PSNR ${r.reconstruction.psnr.toFixed(2)} dB, SSIM ${r.reconstruction.ssim.toFixed(3)}`,
      );
      this.log(`done in ${r.seconds.toFixed(1)} s. Start with ${r.report}`);
      return r;
    } finally {
      progress.stop();
    }
  }
}
