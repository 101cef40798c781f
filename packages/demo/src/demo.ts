import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type ProgressListener, silentProgress } from '@qlip/core';
import {
  evaluateReconstruction,
  evaluateZeroShot,
  formatNumber,
  markdownTable,
  type ReconstructionJobResult,
  type ZeroShotJobResult,
} from '@qlip/eval';
import { QLIPModel } from '@qlip/model';
import { defaultModelDir } from '@qlip/pretrained';
import {
  modelFingerprint,
  type ReconstructResult,
  reconstructImages,
  type TokenizeDatasetResult,
  tfjsRuntime,
  tokenizeDataset,
} from '@qlip/tokenize';
import { writeMnistFolder } from './images.js';
import { type UnifiedDemo, unifiedDemo, unifiedSummary } from './unified.js';

/** The prompt the shipped checkpoint was trained with (its preset's MNIST template). */
export const DEMO_TEMPLATES = ['a photo of the number {}.'];

export interface DemoOptions {
  /** Output folder (created; an earlier demo's tokens are resumed, the rest rewritten). */
  out: string;
  /** Model directory; default: the shipped qlip-tiny-mnist checkpoint. */
  model?: string;
  /** MNIST test digits to use. */
  images?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface DemoResult {
  out: string;
  model: string;
  images: number;
  tokenize: TokenizeDatasetResult;
  reconstruct: ReconstructResult;
  zeroShot: ZeroShotJobResult;
  reconstruction: ReconstructionJobResult;
  /** The shipped unified model: a generated grid per digit prompt and captions of test digits. */
  unified: UnifiedDemo;
  /** The summary report (Markdown). */
  report: string;
  seconds: number;
}

/**
 * The quick-start job: write MNIST test digits as a class-folder tree, tokenize it, reconstruct it,
 * evaluate zero-shot accuracy and reconstruction quality, and write `OUT/README.md` pointing at every
 * artefact. Everything goes through the same library functions as the `qlip` commands.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const onProgress = o.onProgress ?? silentProgress;
  const modelDir = o.model ?? defaultModelDir();
  const count = o.images ?? 200;
  const images = join(o.out, 'images');
  onProgress({ task: 'demo', done: 0, message: `writing ${count} MNIST test digits to ${images}` });
  await writeMnistFolder(images, count);
  const model = await QLIPModel.load(modelDir);
  const rt = tfjsRuntime(model);
  try {
    const common = { onProgress, signal: o.signal };
    const tokenize = await tokenizeDataset(rt, {
      input: images,
      out: join(o.out, 'tokens'),
      model: { path: modelDir, fingerprint: await modelFingerprint(modelDir) },
      batchSize: 32,
      createdBy: 'qlip demo',
      ...common,
    });
    const reconstruct = await reconstructImages(rt, {
      input: images,
      out: join(o.out, 'reconstructions'),
      sideBySide: true,
      batchSize: 32,
      ...common,
    });
    const zeroShot = await evaluateZeroShot(rt, {
      data: images,
      templates: DEMO_TEMPLATES,
      batchSize: 64,
      out: join(o.out, 'zero-shot'),
      modelName: modelDir,
      ...common,
    });
    const reconstruction = await evaluateReconstruction(rt, {
      data: images,
      batchSize: 64,
      fd: 'none',
      gridCount: 16,
      out: join(o.out, 'reconstruction'),
      modelName: modelDir,
      ...common,
    });
    const unified = await unifiedDemo(o.out, images, onProgress);
    const report = join(o.out, 'README.md');
    await writeFile(
      report,
      summary(o.out, modelDir, tokenize, zeroShot, reconstruction) + unifiedSummary(o.out, unified),
    );
    return {
      out: o.out,
      model: modelDir,
      images: count,
      tokenize,
      reconstruct,
      zeroShot,
      reconstruction,
      unified,
      report,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    model.dispose();
  }
}

function summary(
  out: string,
  modelDir: string,
  tok: TokenizeDatasetResult,
  zs: ZeroShotJobResult,
  rec: ReconstructionJobResult,
): string {
  const rel = (p: string) => relative(out, p) || '.';
  return `# qlip demo

Model: \`${modelDir}\` (${tok.bits}-bit tokens on a ${tok.grid.join('x')} grid). Data: ${tok.total} MNIST test
digits written as a class-folder tree in \`images/\`.

${markdownTable(
  ['step', 'result', 'where'],
  [
    [
      'tokenize',
      `${tok.total} images -> uint32 [n, ${tok.grid.join(', ')}] tokens`,
      `${rel(join(out, 'tokens'))}/`,
    ],
    ['reconstruct', 'input | reconstruction PNGs', 'reconstructions/'],
    [
      'zero-shot',
      `top-1 ${formatNumber(100 * zs.top1)}%, top-5 ${formatNumber(100 * zs.top5)}% (${zs.classes.length} classes)`,
      'zero-shot/report.md',
    ],
    [
      'reconstruction',
      `PSNR ${formatNumber(rec.psnr)} dB, SSIM ${formatNumber(rec.ssim)}, ${rec.codebook.distinctCodes} distinct codes`,
      'reconstruction/report.md',
    ],
  ],
)}

![originals beside reconstructions](reconstruction/grid.png)

![confusion matrix](zero-shot/confusion.png)

Read the tokens in Python:

\`\`\`python
import json, numpy as np
rows = [json.loads(l) for l in open("tokens/parts/00000/index.jsonl")]   # the digits fit one part
tokens = np.load("tokens/parts/00000/tokens.npy")   # uint32 (n, ${tok.grid.join(', ')}); row i <-> rows[i]
\`\`\`
`;
}
