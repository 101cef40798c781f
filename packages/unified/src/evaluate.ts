import { join } from 'node:path';
import {
  CLIP_MEAN,
  CLIP_STD,
  denormalizeImages,
  imageGrid,
  type ProgressListener,
  type RgbImage,
  silentProgress,
  writePng,
} from '@qlip/core';
import {
  argmaxRows,
  cosineScores,
  ensemblePrompts,
  evalClassNames,
  evalDataset,
  evalSource,
  type FdNetwork,
  FeatureStatsAccumulator,
  fillTemplates,
  forEachEvalBatch,
  formatNumber,
  frechetDistanceFromStats,
  headOfBatch,
  OPENAI_IMAGENET_TEMPLATES,
  type Rows,
  startEvalJob,
  writeMarkdownReport,
} from '@qlip/eval';
import { ClipBpe } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { captionCodes, decodeCodes, encodePixels, generate, type UnifiedPipeline } from './infer.js';
import { bleu, captionWords, ciderD } from './metrics.js';

/** uint8 RGB images -> CLIP-normalised `[B, 3, S, S]`, exactly as a real image file would be fed. */
function normalise(images: RgbImage[]): Float32Array {
  const { width: w, height: h } = images[0]!;
  const out = new Float32Array(images.length * 3 * h * w);
  images.forEach((im, b) => {
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < h * w; p++)
        out[(b * 3 + c) * h * w + p] = (im.data[p * 3 + c]! / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
  });
  return out;
}

/** The tokenizer's zero-shot classifier: class embeddings from templates (prompt ensembling). */
function classEmbeddings(p: UnifiedPipeline, classes: string[], templates: string[]): Rows {
  const tok = ClipBpe.default();
  const prompts = classes.flatMap((c) => fillTemplates(c, templates));
  const ctx = p.tokenizer.config.text_config.max_position_embeddings;
  const e = p.tokenizer.textEmbeddings(tok.tokenize(prompts, ctx), { normalize: true });
  const data = e.dataSync() as Float32Array;
  const rows: Rows = { data, rows: prompts.length, cols: e.shape[1] };
  e.dispose();
  return ensemblePrompts(rows, classes.length);
}

function classify(p: UnifiedPipeline, classEmb: Rows, images: RgbImage[]): Int32Array {
  const s = p.tokenizer.imageSize;
  const x = tf.tensor4d(normalise(images), [images.length, 3, s, s]);
  const e = p.tokenizer.imageEmbeddings(x, { normalize: true });
  const rows: Rows = { data: e.dataSync() as Float32Array, rows: images.length, cols: e.shape[1] };
  tf.dispose([x, e]);
  return argmaxRows(cosineScores(rows, classEmb));
}

type FeatureNet = { featureDim: number; pooled(x: tf.Tensor): tf.Tensor; dispose(): void };

/**
 * Pooled features `[B, F]` of uint8 images, in chunks of 8: the nets resize to their input size, and on the
 * wasm backend a batch of 50 at 224 px fails with "memory access out of bounds".
 */
async function pooled(net: FeatureNet, images: RgbImage[]): Promise<Float64Array> {
  const { width: w, height: h } = images[0]!;
  const out = new Float64Array(images.length * net.featureDim);
  for (let s = 0; s < images.length; s += 8) {
    const chunk = images.slice(s, s + 8);
    const flat = new Float32Array(chunk.length * h * w * 3);
    chunk.forEach((im, i) => {
      for (let j = 0; j < h * w * 3; j++) flat[i * h * w * 3 + j] = im.data[j]! / 255;
    });
    const x = tf.tensor4d(flat, [chunk.length, h, w, 3]);
    const f = net.pooled(x);
    out.set(await f.data(), s * net.featureDim);
    tf.dispose([x, f]);
  }
  return out;
}

export interface GenerationEvalOptions {
  /** Class names (prompts are `template` filled with each); default: the eval data's classes. */
  classes?: string[];
  /** Prompt template with `{c}` (default "a photo of the number {c}."), or explicit prompts (one per class). */
  template?: string;
  prompts?: string[];
  /** Real images for the Frechet distance and the class names: `mnist` (test split), a class folder, ... */
  data: string;
  n: number;
  guidance: number;
  temperature: number;
  topK: number;
  seed: number;
  /** Feature network of the Frechet distance (`none` skips it). */
  fd: FdNetwork;
  /** Real images (and their reconstructions) for the Frechet distance. */
  fdImages: number;
  out?: string;
  onProgress?: ProgressListener;
}

export interface GenerationEvalResult {
  prompts: {
    prompt: string;
    class: string;
    samples: number;
    accuracy: number;
    diversity: number;
    seconds: number;
  }[];
  /** Fraction of all samples the tokenizer's zero-shot classifier assigns to the prompt's class. */
  promptAccuracy: number;
  /** Distinct token grids / N, averaged over prompts. */
  diversity: number;
  frechetDistance: {
    network: FdNetwork;
    generated: number;
    reconstructions: number;
    realImages: number;
  } | null;
  /** Token sampling rate (images/s) at the batch size used, KV cache on. */
  imagesPerSecond: number;
  files: string[];
  seconds: number;
}

/**
 * Text-to-image evaluation: N samples per class prompt; prompt accuracy by the tokenizer's own zero-shot
 * classifier (CLIPScore-style), diversity = distinct grids / N, Frechet distance of generated images vs real
 * test images beside the same distance for the tokenizer's own reconstructions, and a Markdown report with a
 * sample grid per prompt.
 */
export async function evaluateGeneration(
  p: UnifiedPipeline,
  o: GenerationEvalOptions,
): Promise<GenerationEvalResult> {
  const t0 = performance.now();
  const emit = o.onProgress ?? silentProgress;
  const source = await evalSource(o.data, { labels: true });
  const classes = o.classes ?? (await evalClassNames(source));
  const prompts =
    o.prompts ?? classes.map((c) => (o.template ?? 'a photo of the number {c}.').replaceAll('{c}', c));
  if (prompts.length !== classes.length)
    throw new Error(`${prompts.length} prompts for ${classes.length} classes: give one prompt per class`);
  const classEmb = classEmbeddings(p, classes, [...OPENAI_IMAGENET_TEMPLATES]);
  const net =
    o.fd === 'none'
      ? undefined
      : ((await (await import('@qlip/feature-nets')).loadFeatureNet(o.fd, { layout: 'NHWC' })) as FeatureNet);
  const genStats = net ? new FeatureStatsAccumulator(net.featureDim) : undefined;
  const rows: GenerationEvalResult['prompts'] = [];
  const grids: { caption: string; path: string }[] = [];
  let sampleSeconds = 0;
  try {
    for (const [ci, prompt] of prompts.entries()) {
      const { row, images } = await evaluatePrompt(p, o, classEmb, ci, prompt, classes[ci]!);
      rows.push(row);
      sampleSeconds += row.seconds;
      if (genStats && net) genStats.add(await pooled(net, images));
      if (o.out) grids.push(await writeSampleGrid(o.out, ci, row, images));
      emit({
        task: 'eval generation',
        done: ci + 1,
        total: prompts.length,
        unit: 'prompts',
        metrics: { accuracy: row.accuracy },
      });
    }
    const fdResult = net && genStats ? await realFrechet(p, net, source, o.fdImages, genStats) : null;
    const total = rows.reduce((a, r) => a + r.samples, 0);
    const result: GenerationEvalResult = {
      prompts: rows,
      promptAccuracy: rows.reduce((a, r) => a + r.accuracy * r.samples, 0) / total,
      diversity: rows.reduce((a, r) => a + r.diversity, 0) / rows.length,
      frechetDistance: fdResult ? { network: o.fd, ...fdResult } : null,
      imagesPerSecond: total / sampleSeconds,
      files: o.out ? grids.map((g) => join(o.out!, g.path)) : [],
      seconds: (performance.now() - t0) / 1000,
    };
    if (o.out) result.files.push(await writeGenerationReport(p, o, result, grids));
    return result;
  } finally {
    net?.dispose();
  }
}

/** N seeded samples of one class prompt: accuracy by the zero-shot classifier, diversity of the grids. */
async function evaluatePrompt(
  p: UnifiedPipeline,
  o: GenerationEvalOptions,
  classEmb: Rows,
  ci: number,
  prompt: string,
  className: string,
): Promise<{ row: GenerationEvalResult['prompts'][number]; images: RgbImage[] }> {
  const g = await generate(p, prompt, {
    n: o.n,
    seed: o.seed + ci,
    guidance: o.guidance,
    temperature: o.temperature,
    topK: o.topK,
    batchSize: 32,
  });
  const pred = classify(p, classEmb, g.images);
  const hits = pred.filter((c) => c === ci).length;
  const n = p.model.config.image_grid[0] * p.model.config.image_grid[1];
  const distinct = new Set<string>();
  for (let i = 0; i < o.n; i++) distinct.add(g.codes.subarray(i * n, (i + 1) * n).join(','));
  const row = {
    prompt,
    class: className,
    samples: o.n,
    accuracy: hits / o.n,
    diversity: distinct.size / o.n,
    seconds: g.seconds,
  };
  return { row, images: g.images };
}

/** grid-NN.png: the first 32 samples of prompt `ci`, 8 a line; its report entry. */
async function writeSampleGrid(
  out: string,
  ci: number,
  row: GenerationEvalResult['prompts'][number],
  images: RgbImage[],
): Promise<{ caption: string; path: string }> {
  const file = `grid-${String(ci).padStart(2, '0')}.png`;
  const shown = images.slice(0, 32);
  const lines: RgbImage[][] = [];
  for (let i = 0; i < shown.length; i += 8) lines.push(shown.slice(i, i + 8));
  await writePng(join(out, file), imageGrid(lines, { gap: 2 }));
  return { caption: `"${row.prompt}": accuracy ${formatNumber(row.accuracy)}`, path: file };
}

async function writeGenerationReport(
  p: UnifiedPipeline,
  o: GenerationEvalOptions,
  result: GenerationEvalResult,
  grids: { caption: string; path: string }[],
): Promise<string> {
  const md = join(o.out!, 'report.md');
  const fd = result.frechetDistance;
  await writeMarkdownReport(md, {
    title: 'Text-to-image evaluation',
    meta: {
      model: p.dir,
      tokenizer: p.model.config.tokenizer.path,
      'samples per prompt': o.n,
      guidance: o.guidance,
      temperature: o.temperature,
      'top-k': o.topK,
      seed: o.seed,
    },
    metrics: {
      'prompt accuracy (tokenizer zero-shot)': formatNumber(result.promptAccuracy),
      'diversity (distinct grids / N)': formatNumber(result.diversity),
      ...(fd
        ? {
            [`Frechet distance generated vs real (${o.fd}, not standard FID)`]: formatNumber(fd.generated),
            [`Frechet distance reconstructions vs real (${o.fd})`]: formatNumber(fd.reconstructions),
          }
        : {}),
      'token sampling (images/s, KV cache, batch 32)': formatNumber(result.imagesPerSecond),
    },
    tables: [
      {
        heading: 'Per prompt',
        headers: ['prompt', 'accuracy', 'diversity'],
        rows: result.prompts.map((r) => [r.prompt, formatNumber(r.accuracy), formatNumber(r.diversity)]),
      },
    ],
    images: grids,
  });
  return md;
}

/** Frechet distances of generated and of reconstructed images, both against the same real images. */
async function realFrechet(
  p: UnifiedPipeline,
  net: FeatureNet,
  source: Awaited<ReturnType<typeof evalSource>>,
  limit: number,
  gen: FeatureStatsAccumulator,
): Promise<{ generated: number; reconstructions: number; realImages: number }> {
  const real = new FeatureStatsAccumulator(net.featureDim);
  const recon = new FeatureStatsAccumulator(net.featureDim);
  const ds = await evalDataset(source, p.tokenizer.imageSize, 64, [], silentProgress, 'fd', true);
  let n = 0;
  for await (const full of ds.batches()) {
    if (n >= limit) break;
    const b = headOfBatch(full, limit - n);
    const bs = b.shape[0];
    const s = p.tokenizer.imageSize;
    real.add(await pooled(net, denormalizeImages(b.images, [bs, 3, s, s])));
    recon.add(await pooled(net, await decodeCodes(p.tokenizer, await encodePixels(p, b.images, bs))));
    n += bs;
  }
  const r = real.stats();
  return {
    generated: frechetDistanceFromStats(gen.stats(), r),
    reconstructions: frechetDistanceFromStats(recon.stats(), r),
    realImages: n,
  };
}

export interface CaptionEvalOptions {
  /** Images with reference captions: `mnist` (test split), `emoji`, a manifest, a class folder. */
  data: string;
  limit?: number;
  batchSize?: number;
  out?: string;
  onProgress?: ProgressListener;
}

export interface CaptionEvalResult {
  images: number;
  bleu4: number;
  ciderD: number;
  /** Fraction of captions that contain the image's class name as a word (sources with class names). */
  exactMatch: number | null;
  examples: { key: string; reference: string; caption: string }[];
  files: string[];
  seconds: number;
}

/** Image-to-text evaluation: greedy captions vs the source's captions (BLEU-4, CIDEr-D, class-word match). */
export async function evaluateCaptioning(
  p: UnifiedPipeline,
  o: CaptionEvalOptions,
): Promise<CaptionEvalResult> {
  const job = await startEvalJob(o, false);
  const cands: string[] = [];
  const refs: string[][] = [];
  const examples: CaptionEvalResult['examples'] = [];
  const shown: RgbImage[] = [];
  const hits = { class: 0, total: 0 };
  const s = p.tokenizer.imageSize;
  const spec = { task: 'eval captioning', imageSize: s, sample: o.limit !== undefined };
  await forEachEvalBatch(job, { ...o, batchSize: o.batchSize ?? 128 }, spec, async (b) => {
    const bs = b.shape[0];
    const caps = await captionCodes(p, await encodePixels(p, b.images, bs));
    caps.forEach((c, i) => {
      cands.push(c);
      refs.push([b.captions[i]!]);
      const cls = b.classNames[i];
      if (cls) {
        hits.total++;
        if (captionWords(c).join(' ').includes(captionWords(cls).join(' '))) hits.class++;
      }
      if (examples.length < 24) examples.push({ key: b.keys[i]!, reference: b.captions[i]!, caption: c });
    });
    if (o.out && shown.length < 24)
      shown.push(...denormalizeImages(b.images, [bs, 3, s, s]).slice(0, 24 - shown.length));
    return undefined;
  });
  const result: CaptionEvalResult = {
    images: cands.length,
    bleu4: bleu(cands, refs)[3]!,
    ciderD: ciderD(cands, refs).score,
    exactMatch: hits.total ? hits.class / hits.total : null,
    examples,
    files: [],
    seconds: (performance.now() - job.t0) / 1000,
  };
  if (o.out) result.files = await writeCaptionReport(p, o, o.out, result, shown);
  return result;
}

/** report.md with the metrics and the first examples (their images as example-NN.png). */
async function writeCaptionReport(
  p: UnifiedPipeline,
  o: CaptionEvalOptions,
  out: string,
  result: CaptionEvalResult,
  shown: RgbImage[],
): Promise<string[]> {
  const { examples } = result;
  const images = shown.map((im, i) => {
    const f = `example-${String(i).padStart(2, '0')}.png`;
    return { im, f, caption: examples[i]!.caption };
  });
  for (const x of images) await writePng(join(out, x.f), x.im);
  const md = join(out, 'report.md');
  await writeMarkdownReport(md, {
    title: 'Captioning evaluation',
    meta: { model: p.dir, data: o.data, images: result.images },
    metrics: {
      'BLEU-4': formatNumber(result.bleu4),
      'CIDEr-D': formatNumber(result.ciderD),
      ...(result.exactMatch !== null ? { 'class-word exact match': formatNumber(result.exactMatch) } : {}),
    },
    tables: [
      {
        heading: 'Examples',
        headers: ['image', 'reference', 'caption'],
        rows: examples.map((e, i) => [images[i] ? `![](${images[i]!.f})` : e.key, e.reference, e.caption]),
      },
    ],
    notes: [
      'Metrics over lower-cased words without punctuation; CIDEr-D with sigma 6 and the COCO length convention (see docs/unified.md).',
    ],
  });
  return [md, ...images.map((x) => join(out, x.f))];
}
