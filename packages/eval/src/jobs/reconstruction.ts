import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { denormalizeImages, optionalImport } from '@qlip/core';
import type { SkipEvent } from '@qlip/data';
import { type ModelRuntime, roundTrip } from '@qlip/tokenize';
import { bitsPerImage, codebookUsage, compressionRatio } from '../codebook.js';
import { FeatureStatsAccumulator, frechetDistanceFromStats } from '../frechet.js';
import type { Image } from '../image.js';
import { psnr } from '../psnr.js';
import { gridUpscale, reconstructionGridPng } from '../report/grid.js';
import { formatNumber, writeMarkdownReport } from '../report/markdown.js';
import { ssim } from '../ssim.js';
import { type EvalJobOptions, forEachEvalBatch, startEvalJob } from './data.js';
import {
  type FailedInput,
  failedInputs,
  legacySkipped,
  type PerImageRow,
  writePerImage,
} from './per-image.js';

const gridScale = (grid: { orig: Image[] }) =>
  grid.orig[0] ? gridUpscale(grid.orig[0].width, grid.orig[0].height) : 1;

/** Feature network for the Frechet distance (not the standard FID Inception: see @qlip/feature-nets). */
export type FdNetwork = 'inception_v3' | 'mobilenet_v2' | 'none';

export interface ReconstructionJobOptions extends EvalJobOptions {
  fd?: FdNetwork;
  /** Original/reconstruction pairs in grid.png. */
  gridCount?: number;
  out?: string;
  modelName?: string;
}

export interface ReconstructionJobResult {
  data: string;
  runtime: string;
  images: number;
  /** Mean per-image PSNR in dB on 0..255. */
  psnr: number;
  /** Mean SSIM (Gaussian window 11, sigma 1.5; scikit-image's definition). */
  ssim: number;
  /** Frechet distance between feature statistics of originals and reconstructions, or null with fd "none". */
  frechetDistance: number | null;
  fdNetwork: FdNetwork;
  codebook: {
    bits: number;
    distinctCodes: number;
    usage: number;
    perBitEntropy: number[];
    perplexity: number;
  };
  bitsPerImage: number;
  compressionRatio: number;
  /** Inputs that could not be read (the name `qlip tokenize` uses). */
  failed: FailedInput[];
  /** @deprecated The same inputs in the old shape; use `failed`. */
  skipped: { key: string; reason: string; detail: string }[];
  files: string[];
  seconds: number;
}

const toEvalImage = (img: { width: number; height: number; data: Uint8Array }): Image => ({
  ...img,
  channels: 3,
});

/** The Frechet network, loaded on first use (only `--fd` loads tfjs-layers and the nsfwjs weights). */
async function loadFrechetNet(fd: Exclude<FdNetwork, 'none'>) {
  const mod = await optionalImport(() => import('@qlip/feature-nets'));
  if (!mod.module) throw new Error(`Frechet distance (${fd}) needs @qlip/feature-nets: ${mod.error}`);
  return mod.module.loadFeatureNet(fd, { layout: 'NHWC' });
}

/** Running sums of a reconstruction evaluation, fed batch by batch. */
class ReconstructionStats {
  readonly indices: number[] = [];
  psnrSum = 0;
  ssimSum = 0;
  n = 0;
  readonly rows: PerImageRow[] = [];
  readonly grid: { orig: Image[]; recon: Image[] } = { orig: [], recon: [] };
  readonly real: FeatureStatsAccumulator | undefined;
  readonly fake: FeatureStatsAccumulator | undefined;

  constructor(
    private readonly gridCount: number,
    private readonly perImage: boolean,
    private readonly net: FeatureNet | undefined,
  ) {
    this.real = net ? new FeatureStatsAccumulator(net.featureDim) : undefined;
    this.fake = net ? new FeatureStatsAccumulator(net.featureDim) : undefined;
  }

  /** Score one batch: originals and reconstructions (uint8), their keys and token indices. */
  async add(keys: string[], orig: Image[], recon: Image[], indices: Uint32Array): Promise<void> {
    for (const v of indices) this.indices.push(v);
    for (let i = 0; i < orig.length; i++) {
      const p = psnr(orig[i]!, recon[i]!);
      const q = ssim(orig[i]!, recon[i]!);
      this.psnrSum += p;
      this.ssimSum += q;
      if (this.perImage) this.rows.push({ key: keys[i]!, psnr: p, ssim: q });
      if (this.grid.orig.length < this.gridCount) {
        this.grid.orig.push(orig[i]!);
        this.grid.recon.push(recon[i]!);
      }
    }
    if (this.net && this.real && this.fake) {
      this.real.add(await poolFeatures(this.net, orig));
      this.fake.add(await poolFeatures(this.net, recon));
    }
    this.n += orig.length;
  }

  frechetDistance(): number | null {
    return this.real && this.fake ? frechetDistanceFromStats(this.real.stats(), this.fake.stats()) : null;
  }
}

type FeatureNet = Awaited<ReturnType<typeof loadFrechetNet>>;

/**
 * Reconstruction quality the way the field reports it: every image goes through the tokenizer (encode to
 * indices, decode), and the uint8 reconstruction is compared with the uint8 preprocessed original.
 */
export async function evaluateReconstruction(
  rt: ModelRuntime,
  o: ReconstructionJobOptions,
): Promise<ReconstructionJobResult> {
  const job = await startEvalJob(o, false);
  const fd = o.fd ?? 'none';
  const net = fd === 'none' ? undefined : await loadFrechetNet(fd);
  const stats = new ReconstructionStats(o.gridCount ?? 16, o.perImage !== undefined, net);
  const s = rt.imageSize;
  let skipped: SkipEvent[];
  try {
    ({ skipped } = await forEachEvalBatch(job, o, { task: 'reconstruction', imageSize: s }, async (b) => {
      const bs = b.shape[0];
      const { indices, images } = await roundTrip(rt, b.images, bs);
      const orig = denormalizeImages(b.images, [bs, 3, s, s]).map(toEvalImage);
      await stats.add(b.keys, orig, images.map(toEvalImage), indices);
      return { psnr: stats.psnrSum / stats.n };
    }));
  } finally {
    net?.dispose();
  }
  const result = reconstructionResult(rt, o, fd, stats, skipped, job.t0);
  if (o.perImage) result.files.push(await writePerImage(o.perImage, stats.rows));
  if (o.out) result.files.push(...(await writeReconstructionReport(o.out, result, stats.grid, o.modelName)));
  return result;
}

function reconstructionResult(
  rt: ModelRuntime,
  o: ReconstructionJobOptions,
  fd: FdNetwork,
  stats: ReconstructionStats,
  skipped: SkipEvent[],
  t0: number,
): ReconstructionJobResult {
  const { n } = stats;
  const usage = codebookUsage(stats.indices, rt.bits);
  const tokens = rt.grid[0] * rt.grid[1];
  return {
    data: o.data,
    runtime: rt.name,
    images: n,
    psnr: stats.psnrSum / n,
    ssim: stats.ssimSum / n,
    frechetDistance: stats.frechetDistance(),
    fdNetwork: fd,
    codebook: {
      bits: rt.bits,
      distinctCodes: usage.distinct,
      usage: usage.usageFraction,
      perBitEntropy: usage.bitEntropy,
      perplexity: usage.perplexity,
    },
    bitsPerImage: bitsPerImage(tokens, rt.bits),
    compressionRatio: compressionRatio(rt.patchSize, rt.bits),
    failed: failedInputs(skipped),
    skipped: legacySkipped(skipped),
    files: [],
    seconds: (performance.now() - t0) / 1000,
  };
}

/** uint8 HWC images -> pooled features `[B, F]` rows (the feature net resizes internally). */
async function poolFeatures(
  net: { pooled(x: import('@tensorflow/tfjs-core').Tensor): import('@tensorflow/tfjs-core').Tensor },
  images: Image[],
): Promise<Float64Array> {
  const tf = await import('@tensorflow/tfjs-core');
  const { width: w, height: h } = images[0]!;
  const flat = new Float32Array(images.length * h * w * 3); // [B, H, W, 3] in [0, 1]
  images.forEach((im, i) => {
    for (let j = 0; j < h * w * 3; j++) flat[i * h * w * 3 + j] = im.data[j]! / 255;
  });
  const x = tf.tensor4d(flat, [images.length, h, w, 3]);
  const f = net.pooled(x);
  const data = Float64Array.from(await f.data());
  tf.dispose([x, f]);
  return data; // [B, F] row-major
}

async function writeReconstructionReport(
  out: string,
  r: ReconstructionJobResult,
  grid: { orig: Image[]; recon: Image[] },
  modelName = 'model',
): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const png = join(out, 'grid.png');
  await writeFile(png, await reconstructionGridPng(grid.orig, grid.recon));
  const md = join(out, 'report.md');
  const metrics: Record<string, string | number> = {
    'PSNR (dB, 0..255)': formatNumber(r.psnr),
    SSIM: formatNumber(r.ssim),
    'distinct codes': `${r.codebook.distinctCodes} of 2^${r.codebook.bits}`,
    'code perplexity': formatNumber(r.codebook.perplexity),
    'bits per image': r.bitsPerImage,
    'compression ratio (24 p^2 / L)': formatNumber(r.compressionRatio),
  };
  if (r.frechetDistance !== null)
    metrics[`Frechet distance (${r.fdNetwork}, NOT standard FID)`] = formatNumber(r.frechetDistance);
  await writeMarkdownReport(md, {
    title: `Reconstruction: ${r.data}`,
    meta: { model: modelName, data: r.data, runtime: r.runtime, images: r.images },
    metrics,
    tables: [
      {
        heading: 'Per-bit entropy (bits; 1 = balanced)',
        headers: ['bit', ...r.codebook.perBitEntropy.map((_, i) => String(i))],
        rows: [['H', ...r.codebook.perBitEntropy.map((h) => formatNumber(h))]],
      },
    ],
    images: [
      {
        caption: `Originals (left) beside reconstructions (right)${gridScale(grid) > 1 ? `, enlarged ${gridScale(grid)}x (nearest neighbour)` : ''}`,
        path: 'grid.png',
      },
    ],
    notes: [
      ...(r.frechetDistance !== null
        ? [
            `The Frechet distance uses nsfwjs's ${r.fdNetwork} weights (an NSFW-classifier fine-tune), not the Inception network of standard FID: compare it only with itself.`,
          ]
        : []),
      ...(r.failed.length
        ? [`${r.failed.length} unreadable samples were skipped: ${r.failed.map((s) => s.path).join(', ')}`]
        : []),
    ],
  });
  return [md, png];
}
