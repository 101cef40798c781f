import { Flags } from '@oclif/core';
import { evaluateReconstruction, type FdNetwork, type ReconstructionJobResult } from '@qlip/eval';
import { QlipCommand } from '../../lib/base.js';
import { modelFlags } from '../../lib/model.js';

export default class EvalReconstruction extends QlipCommand {
  static override summary =
    'Reconstruction quality of a tokenizer: PSNR, SSIM, Frechet distance, codebook usage';
  static override description =
    `Every image is preprocessed like the reference (shortest side -> image size, bicubic, centre crop),
tokenized, decoded and compared with the preprocessed original in uint8:
  PSNR on 0..255, SSIM (Gaussian window 11, sigma 1.5; scikit-image's definition),
  a Frechet distance on features of nsfwjs's InceptionV3/MobileNetV2 (--fd; NOT the standard FID network,
  so compare it only with itself), codebook usage (distinct codes, per-bit entropy), bits per image and
  compression ratio 24*p^2/L. --out writes report.md and grid.png (originals beside reconstructions, small
images enlarged with nearest neighbour); --per-image writes each image's PSNR and SSIM (CSV or JSONL).`;
  static override examples = [
    '<%= config.bin %> eval reconstruction --data mnist --limit 500 --out report/',
    '<%= config.bin %> eval reconstruction --data photos/ --per-image psnr.jsonl',
    '<%= config.bin %> eval reconstruction --model my-model --data photos/ --fd inception_v3 --json',
  ];
  static override flags = {
    ...modelFlags,
    data: Flags.string({
      char: 'd',
      description: 'mnist | emoji | folder tree of images | manifest',
      required: true,
    }),
    fd: Flags.string({
      description: 'feature network for the Frechet distance',
      options: ['mobilenet_v2', 'inception_v3', 'none'],
      default: 'none',
    }),
    limit: Flags.integer({ description: 'evaluate only the first N images', min: 1 }),
    'batch-size': Flags.integer({ description: 'images per model call', default: 32, min: 1 }),
    grid: Flags.integer({ description: 'original/reconstruction pairs in grid.png', default: 16, min: 1 }),
    'per-image': Flags.string({
      description:
        'also write one row per image to this .csv or .jsonl file (the format follows the extension)',
    }),
    out: Flags.string({ char: 'o', description: 'folder for report.md and grid.png' }),
  };

  async run(): Promise<ReconstructionJobResult> {
    const { flags } = await this.parse(EvalReconstruction);
    // The Frechet feature network runs on tfjs even with --runtime onnx.
    if (flags.fd !== 'none' && flags.runtime !== 'tfjs') await this.initBackend(flags.backend);
    const r = await this.withRuntime(flags, (ctx) =>
      evaluateReconstruction(ctx.runtime, {
        data: flags.data,
        fd: flags.fd as FdNetwork,
        limit: flags.limit,
        batchSize: flags['batch-size'],
        gridCount: flags.grid,
        out: flags.out,
        perImage: flags['per-image'],
        modelName: ctx.modelDir,
        onProgress: ctx.onProgress,
        signal: ctx.signal,
      }),
    );
    const fd = r.frechetDistance === null ? '' : `, FD(${r.fdNetwork}) ${r.frechetDistance.toFixed(3)}`;
    this.log(
      `reconstruction on ${r.data}: PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim.toFixed(4)}${fd}, ` +
        `${r.codebook.distinctCodes} distinct codes, ${r.bitsPerImage} bits/image, compression ${r.compressionRatio.toFixed(1)} (${r.images} images)`,
    );
    for (const f of r.files) this.log(`wrote ${f}`);
    return r;
  }
}
