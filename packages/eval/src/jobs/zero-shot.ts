import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipBpe } from '@qlip/text-encoder';
import type { ModelRuntime } from '@qlip/tokenize';
import { confusionMatrixPng } from '../report/confusion.js';
import { formatNumber, writeMarkdownReport } from '../report/markdown.js';
import { fillTemplates, OPENAI_IMAGENET_TEMPLATES } from '../templates.js';
import { cosineScores, ensemblePrompts, type Rows, zeroShotEvaluate } from '../zeroshot.js';
import { type EvalJobOptions, evalClassNames, forEachEvalBatch, startEvalJob } from './data.js';
import {
  type FailedInput,
  failedInputs,
  legacySkipped,
  type PerImageRow,
  writePerImage,
} from './per-image.js';

export interface ZeroShotJobOptions extends EvalJobOptions {
  /** Class names file (one per line, label order); required for manifests. */
  classesFile?: string;
  /** Prompt templates with `{}` (or `{c}`) for the class name; default: CLIP's 80 ImageNet templates. */
  templates?: string[];
  /** Write report.md and confusion.png here. */
  out?: string;
  /** Described in the report. */
  modelName?: string;
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
  /** Inputs that could not be read (the name `qlip tokenize` uses). */
  failed: FailedInput[];
  /** @deprecated The same inputs in the old shape; use `failed`. */
  skipped: { key: string; reason: string; detail: string }[];
  files: string[];
  seconds: number;
}

/**
 * Zero-shot classification as CLIP does it: every class name fills every template, the L2-normalised text
 * embeddings of a class are averaged and re-normalised (prompt ensembling), and each image goes to the
 * class with the highest cosine similarity.
 */
export async function evaluateZeroShot(rt: ModelRuntime, o: ZeroShotJobOptions): Promise<ZeroShotJobResult> {
  const job = await startEvalJob(o, true);
  const classes = await evalClassNames(job.source, o.classesFile);
  if (classes.length < 2)
    throw new Error(`${o.data}: zero-shot classification needs at least 2 classes, found ${classes.length}`);
  const templates = (o.templates ?? OPENAI_IMAGENET_TEMPLATES).map((t) => t.replace('{c}', '{}'));
  for (const t of templates)
    if (!t.includes('{}')) throw new Error(`template "${t}" has no {} for the class name`);
  const classEmb = await classEmbeddings(rt, classes, templates); // [C, P]

  // Image side.
  const imgRows: Float32Array[] = [];
  const labels: number[] = [];
  const keys: string[] = [];
  const spec = { task: 'zero-shot', imageSize: rt.imageSize, sample: o.limit !== undefined };
  const { skipped } = await forEachEvalBatch(job, o, spec, async (b) => {
    for (const l of b.labels) {
      if (l < 0 || l >= classes.length) {
        throw new Error(
          `${o.data}: label ${l} is outside the ${classes.length} class names (expected 0..${classes.length - 1})`,
        );
      }
    }
    imgRows.push(await rt.imageEmbeddings(b.images, b.shape[0]));
    labels.push(...b.labels);
    keys.push(...b.keys);
    return undefined;
  });
  const images: Rows = { data: concat(imgRows), rows: labels.length, cols: classEmb.cols };
  const scores = cosineScores(images, classEmb); // [N, C]
  const r = zeroShotEvaluate(scores, labels);
  const n = classes.length;
  const result: ZeroShotJobResult = {
    data: o.data,
    runtime: rt.name,
    classes,
    templates: templates.length,
    images: labels.length,
    top1: r.top1,
    top5: r.top5,
    perClass: classes.map((name, i) => ({
      name,
      count: r.perClass.counts[i]!,
      accuracy: r.perClass.accuracy[i]!,
    })),
    confusion: Array.from({ length: n }, (_, i) => Array.from(r.confusion.slice(i * n, (i + 1) * n))),
    failed: failedInputs(skipped),
    skipped: legacySkipped(skipped),
    files: [],
    seconds: (performance.now() - job.t0) / 1000,
  };
  if (o.perImage)
    result.files.push(
      await writePerImage(o.perImage, zeroShotRows(keys, labels, r.predictions, scores, classes)),
    );
  if (o.out) result.files.push(...(await writeZeroShotReport(o.out, result, o.modelName)));
  return result;
}

/** Text side: [C * T] prompts (class-major) -> L2-normalised, prompt-ensembled class embeddings [C, P]. */
async function classEmbeddings(rt: ModelRuntime, classes: string[], templates: string[]): Promise<Rows> {
  const bpe = ClipBpe.default();
  const prompts = classes.flatMap((c) => fillTemplates(c, templates)); // class-major: [C * T]
  const textRows: Float32Array[] = [];
  const chunk = 256;
  for (let i = 0; i < prompts.length; i += chunk) {
    textRows.push(await rt.textEmbeddings(bpe.tokenize(prompts.slice(i, i + chunk), rt.contextLength)));
  }
  const dim = textRows[0]!.length / Math.min(chunk, prompts.length);
  const text: Rows = { data: concat(textRows), rows: prompts.length, cols: dim };
  return ensemblePrompts(text, classes.length);
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
    notes: r.failed.length
      ? [`${r.failed.length} unreadable samples were skipped: ${r.failed.map((s) => s.path).join(', ')}`]
      : [],
  });
  return [md, png];
}

/** Per-image rows: the true and predicted class, and the cosine scores of both. */
function zeroShotRows(
  keys: string[],
  labels: number[],
  predictions: ArrayLike<number>,
  scores: Rows, // [N, C]
  classes: string[],
): PerImageRow[] {
  return keys.map((key, i) => {
    const label = labels[i]!;
    const predicted = predictions[i]!;
    return {
      key,
      label: classes[label]!,
      predicted: classes[predicted]!,
      correct: label === predicted,
      score_predicted: scores.data[i * scores.cols + predicted]!,
      score_label: scores.data[i * scores.cols + label]!,
    };
  });
}
