import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ProgressListener, silentProgress } from '@qlip/core';
import {
  type Batch,
  BUILTIN_DATASETS,
  classFolderClassNames,
  createDataset,
  type ImageTextDataset,
  loadEmojiEntries,
  MNIST_CLASS_NAMES,
  type SkipEvent,
  type SourceConfig,
} from '@qlip/data';
import { checkPerImagePath } from './per-image.js';

/**
 * What `qlip eval` reads: a built-in name (`mnist`, `emoji`), a class-folder tree (a directory whose
 * sub-folders are the classes), or a JSONL/CSV/TSV manifest with `image`, `caption` and `label` columns.
 */
export async function evalSource(
  data: string,
  opts: { split?: 'train' | 'test'; limit?: number; labels?: boolean } = {},
): Promise<SourceConfig> {
  if ((BUILTIN_DATASETS as readonly string[]).includes(data)) {
    const split = opts.split ?? (data === 'mnist' ? 'test' : 'train');
    return { kind: 'builtin', name: data, split, ...(opts.limit ? { limit: opts.limit } : {}) };
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(data);
  } catch {
    throw new Error(
      `${data}: no such file or folder (expected a class-folder tree, a manifest, or one of ${BUILTIN_DATASETS.join(', ')})`,
    );
  }
  if (!info.isDirectory()) return { kind: 'manifest', path: data };
  if (existsSync(path.join(data, 'meta.json')) && existsSync(path.join(data, 'index.jsonl'))) {
    throw new Error(
      `${data}: this is a tokenized dataset (meta.json, index.jsonl); evaluation needs the original images ` +
        '(use `qlip reconstruct` to decode tokens)',
    );
  }
  const entries = await readdir(data, { withFileTypes: true });
  if (!entries.some((e) => !e.name.startsWith('.'))) throw new Error(`${data}: the folder is empty`);
  // Zero-shot needs labels: sub-folders are classes. Reconstruction takes any tree of images.
  return opts.labels === false
    ? { kind: 'folder', path: data, missingCaption: 'filename' }
    : { kind: 'classFolder', path: data };
}

/** Class names in label order: from the folder names, the built-in's classes, or a `--classes` file. */
export async function evalClassNames(source: SourceConfig, classesFile?: string): Promise<string[]> {
  if (classesFile) {
    let text: string;
    try {
      text = await readFile(classesFile, 'utf8');
    } catch (err) {
      throw new Error(
        `${classesFile}: cannot read the class-name file (${(err as NodeJS.ErrnoException).code ?? err})`,
      );
    }
    const names = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
    if (names.length === 0) {
      throw new Error(`${classesFile}: no class names (expected one per line, in label order)`);
    }
    return names;
  }
  if (source.kind === 'classFolder') return classFolderClassNames(path.resolve(source.path));
  if (source.kind === 'builtin' && source.name === 'mnist') return [...MNIST_CLASS_NAMES];
  if (source.kind === 'builtin' && source.name === 'emoji') return (await loadEmojiEntries()).categories;
  throw new Error(
    `${'path' in source ? source.path : source.kind}: a manifest has numeric labels only; give the class names ` +
      'with --classes FILE (one per line, in label order)',
  );
}

/**
 * A single-pass, un-augmented pipeline over the source, reporting skipped samples. In file order, or,
 * with `sample` (a `--limit`), in a fixed seeded order so the subset spans every class instead of the
 * first folders.
 */
export async function evalDataset(
  source: SourceConfig,
  imageSize: number,
  batchSize: number,
  skipped: SkipEvent[],
  onProgress: ProgressListener,
  task: string,
  sample = false,
): Promise<ImageTextDataset> {
  return createDataset(
    { source, imageSize, batchSize, shuffle: sample, seed: 0, epochs: 1, augment: false, dropLast: false },
    {
      onSkip: (e) => {
        skipped.push(e);
        onProgress({ task, done: 0, message: `skipped ${e.key} (${e.reason}): ${e.detail}` });
      },
    },
  );
}

/** The first `keep` samples of a batch (so `--limit` is exact even when it falls inside a batch). */
export function headOfBatch(b: Batch, keep: number): Batch {
  const n = b.shape[0];
  if (keep >= n) return b;
  const per = b.shape[1] * b.shape[2] * b.shape[3];
  return {
    ...b,
    images: b.images.subarray(0, keep * per),
    shape: [keep, b.shape[1], b.shape[2], b.shape[3]],
    captions: b.captions.slice(0, keep),
    labels: b.labels.subarray(0, keep),
    classNames: b.classNames.slice(0, keep),
    keys: b.keys.slice(0, keep),
  };
}

/** What every eval job takes besides its own settings. */
export interface EvalJobOptions {
  /** `mnist`, `emoji`, a folder tree of images, or a manifest. */
  data: string;
  batchSize?: number;
  /** Evaluate only the first N images. */
  limit?: number;
  /** Per-image rows file (.csv or .jsonl), checked before any work. */
  perImage?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

/** An eval job once started: its clock, its progress listener and the data source it reads. */
export interface EvalJob {
  t0: number;
  onProgress: ProgressListener;
  source: SourceConfig;
}

/** The preamble of every eval job: start the clock, check the per-image path, resolve the data. */
export async function startEvalJob(o: EvalJobOptions, labels: boolean): Promise<EvalJob> {
  const t0 = performance.now();
  checkPerImagePath(o.perImage);
  return { t0, onProgress: o.onProgress ?? silentProgress, source: await evalSource(o.data, { labels }) };
}

/**
 * The batch loop of every eval job: one un-augmented pass at `imageSize` (a seeded order with `sample`),
 * exactly `limit` images, progress after each batch (with the metrics `onBatch` returns), a stop signal ends
 * the loop after the current batch. Returns the images seen and the inputs skipped; no readable image fails.
 */
export async function forEachEvalBatch(
  job: EvalJob,
  o: EvalJobOptions,
  spec: { task: string; imageSize: number; sample?: boolean },
  onBatch: (b: Batch) => Promise<Record<string, number> | undefined>,
): Promise<{ images: number; skipped: SkipEvent[] }> {
  const skipped: SkipEvent[] = [];
  const { task, imageSize } = spec;
  const ds = await evalDataset(
    job.source,
    imageSize,
    o.batchSize ?? 32,
    skipped,
    job.onProgress,
    task,
    spec.sample,
  );
  let n = 0;
  for await (const full of ds.batches()) {
    if (o.limit !== undefined && n >= o.limit) break;
    const b = o.limit === undefined ? full : headOfBatch(full, o.limit - n);
    const metrics = await onBatch(b);
    n += b.shape[0];
    job.onProgress({
      task,
      done: n,
      total: o.limit ?? ds.source.size,
      unit: 'images',
      ...(metrics ? { metrics } : {}),
    });
    if (o.signal?.aborted) break;
  }
  if (n === 0) throw new Error(`${o.data}: no readable images to evaluate (${skipped.length} unreadable)`);
  return { images: n, skipped };
}
