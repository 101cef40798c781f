import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProgressListener, silentProgress } from '@qlip/core';
import type { SkipEvent } from '@qlip/data';
import { ClipTokenizer } from '@qlip/text-encoder';
import type { TokenizerRuntime } from '@qlip/tokenize';
import { confusionMatrixPng } from '../report/confusion.js';
import { formatNumber, writeMarkdownReport } from '../report/markdown.js';
import { fillTemplates, OPENAI_IMAGENET_TEMPLATES } from '../templates.js';
import { cosineScores, ensemblePrompts, type Rows, zeroShotEvaluate } from '../zeroshot.js';
import { evalClassNames, evalDataset, evalSource, headOfBatch } from './data.js';

export interface ZeroShotJobOptions {
  /** `mnist`, `emoji`, a class-folder tree, or a labelled manifest. */
  data: string;
  /** Class names file (one per line, label order); required for manifests. */
  classesFile?: string;
  /** Prompt templates with `{}` (or `{c}`) for the class name; default: CLIP's 80 ImageNet templates. */
  templates?: string[];
  batchSize?: number;
  /** Evaluate only the first N images. */
  limit?: number;
  /** Write report.md and confusion.png here. */
  out?: string;
  /** Described in the report. */
  modelName?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ZeroShotJobResult {
  data: string;
  runtime: string;
  classes: string[];
  templates: number;
  images: number;
  top1: number;
  top5: number;
  perClass: { name: string; count: number; accuracy: number }[];
  /** `[C, C]` row = true class, column = predicted. */
  confusion: number[][];
  skipped: { key: string; reason: string; detail: string }[];
  files: string[];
  seconds: number;
}

/**
 * Zero-shot classification as CLIP does it: every class name fills every template, the L2-normalised text
 * embeddings of a class are averaged and re-normalised (prompt ensembling), and each image goes to the
 * class with the highest cosine similarity.
 */
export async function evaluateZeroShot(
  rt: TokenizerRuntime,
  o: ZeroShotJobOptions,
): Promise<ZeroShotJobResult> {
  const t0 = performance.now();
  const onProgress = o.onProgress ?? silentProgress;
  const source = await evalSource(o.data, { labels: true });
  const classes = await evalClassNames(source, o.classesFile);
  if (classes.length < 2)
    throw new Error(`${o.data}: zero-shot classification needs at least 2 classes, found ${classes.length}`);
  const templates = (o.templates ?? OPENAI_IMAGENET_TEMPLATES).map((t) => t.replace('{c}', '{}'));
  for (const t of templates)
    if (!t.includes('{}')) throw new Error(`template "${t}" has no {} for the class name`);

  // Text side: [C * T] prompts -> class embeddings [C, P].
  const tokenizer = ClipTokenizer.default();
  const prompts = classes.flatMap((c) => fillTemplates(c, templates)); // class-major: [C * T]
  const textRows: Float32Array[] = [];
  const chunk = 256;
  for (let i = 0; i < prompts.length; i += chunk) {
    textRows.push(await rt.textEmbeddings(tokenizer.tokenize(prompts.slice(i, i + chunk), rt.contextLength)));
  }
  const dim = textRows[0]!.length / Math.min(chunk, prompts.length);
  const text: Rows = { data: concat(textRows), rows: prompts.length, cols: dim };
  const classEmb = ensemblePrompts(text, classes.length);

  // Image side.
  const skipped: SkipEvent[] = [];
  const ds = await evalDataset(
    source,
    rt.imageSize,
    o.batchSize ?? 32,
    skipped,
    onProgress,
    'zero-shot',
    o.limit !== undefined,
  );
  const imgRows: Float32Array[] = [];
  const labels: number[] = [];
  const total = ds.source.size;
  for await (const full of ds.batches()) {
    if (o.limit !== undefined && labels.length >= o.limit) break;
    const b = o.limit === undefined ? full : headOfBatch(full, o.limit - labels.length);
    for (const l of b.labels) {
      if (l < 0 || l >= classes.length) {
        throw new Error(
          `${o.data}: label ${l} is outside the ${classes.length} class names (expected 0..${classes.length - 1})`,
        );
      }
    }
    imgRows.push(await rt.imageEmbeddings(b.images, b.shape[0]));
    labels.push(...b.labels);
    onProgress({ task: 'zero-shot', done: labels.length, total: o.limit ?? total, unit: 'images' });
    if (o.signal?.aborted) break;
  }
  if (labels.length === 0)
    throw new Error(`${o.data}: no readable images to evaluate (${skipped.length} skipped)`);
  const images: Rows = { data: concat(imgRows), rows: labels.length, cols: dim };
  const r = zeroShotEvaluate(cosineScores(images, classEmb), labels);
  const n = classes.length;
  const confusion = Array.from({ length: n }, (_, i) => Array.from(r.confusion.slice(i * n, (i + 1) * n)));
  const perClass = classes.map((name, i) => ({
    name,
    count: r.perClass.counts[i]!,
    accuracy: r.perClass.accuracy[i]!,
  }));
  const result: ZeroShotJobResult = {
    data: o.data,
    runtime: rt.name,
    classes,
    templates: templates.length,
    images: labels.length,
    top1: r.top1,
    top5: r.top5,
    perClass,
    confusion,
    skipped: skipped.map((s) => ({ key: s.key, reason: s.reason, detail: s.detail })),
    files: [],
    seconds: (performance.now() - t0) / 1000,
  };
  if (o.out) result.files = await writeZeroShotReport(o.out, result, o.modelName);
  return result;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function writeZeroShotReport(
  out: string,
  r: ZeroShotJobResult,
  modelName = 'model',
): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const png = join(out, 'confusion.png');
  await writeFile(png, await confusionMatrixPng(r.confusion.flat(), r.classes));
  const md = join(out, 'report.md');
  await writeMarkdownReport(md, {
    title: `Zero-shot classification: ${r.data}`,
    meta: {
      model: modelName,
      data: r.data,
      runtime: r.runtime,
      images: r.images,
      classes: r.classes.length,
      templates: r.templates,
    },
    metrics: { 'top-1 accuracy': formatNumber(r.top1), 'top-5 accuracy': formatNumber(r.top5) },
    perClass: {
      names: r.classes,
      accuracy: r.perClass.map((p) => p.accuracy),
      counts: r.perClass.map((p) => p.count),
    },
    images: [{ caption: 'Confusion matrix (rows: true class, columns: predicted)', path: 'confusion.png' }],
    notes: r.skipped.length
      ? [`${r.skipped.length} unreadable samples were skipped: ${r.skipped.map((s) => s.key).join(', ')}`]
      : [],
  });
  return [md, png];
}
