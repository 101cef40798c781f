import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import {
  type AlphaMode,
  acquireOutputLock,
  clipPreprocessParams,
  type FileFault,
  faultOf,
  type ImagePreprocessParams,
  listImages,
  type ProgressListener,
  preprocessImage,
  readImageFile,
  type SkipSummary,
  SkipTally,
  silentProgress,
} from '@qlip/core';
import { type IndexEntry, type TokenDatasetMeta, TokenDatasetWriter } from './dataset.js';
import { sha256, sha256File } from './fingerprint.js';
import type { ModelRuntime } from './runtime.js';

export interface TokenizeOptions {
  /** Folder of images (searched recursively). */
  input: string;
  /** Dataset folder to create or resume. */
  out: string;
  /** Recorded in meta.json. */
  model: { path: string; fingerprint: string };
  batchSize?: number;
  /** Images per .npy shard. */
  shardSize?: number;
  /** Also store post-quantisation features (float16). */
  features?: boolean;
  /** Decompression-bomb guard passed to the decoder. */
  maxPixels?: number;
  /** Transparent pixels: `drop` (default, as the reference and training), or composite on `white`/`black`. */
  alpha?: AlphaMode;
  /** Largest image file read (bytes, checked from its size before reading); default 256 MiB. */
  maxFileBytes?: number;
  onProgress?: ProgressListener;
  /** Abort between batches; everything finished so far is written. */
  signal?: AbortSignal;
  /** Written into meta.json (e.g. "qlip 0.1.0"). */
  createdBy?: string;
}

export interface TokenizeResult {
  input: string;
  out: string;
  runtime: string;
  /** Image files found. */
  found: number;
  /** Already in the dataset from an earlier run (skipped). */
  alreadyDone: number;
  /** Tokenized by this run. */
  tokenized: number;
  /** Files that could not be read or decoded (skipped). */
  failed: { path: string; reason: string }[];
  /**
   * Everything left out, counted by reason (`undecodable`, `tooLarge`, `tooManyPixels`, `notRegular`,
   * `unreadable`, `unreadableFolder`, `danglingSymlink`, `symlinkLoop`, `symlinkedFolder`), first few listed.
   */
  skipped: SkipSummary;
  /** Images in the dataset now. */
  total: number;
  interrupted: boolean;
  bits: number;
  grid: [number, number];
  seconds: number;
  imagesPerSecond: number;
}

/** A batch of images read from disk, preprocessed for the model. */
export interface Prepared {
  paths: string[];
  hashes: string[];
  /** Sidecar caption per image (undefined when there is none). */
  captions: (string | undefined)[];
  pixels: Float32Array; // [b, 3, S, S]
  failed: { path: string; reason: string; fault: FileFault }[];
}

/**
 * The caption of `a/b.png` is the text of `a/b.txt` beside it (the trainer's folder-source convention),
 * BOM and surrounding whitespace removed; undefined when there is no sidecar or it is empty.
 */
export async function sidecarCaption(imagePath: string): Promise<string | undefined> {
  const sidecar = `${imagePath.slice(0, imagePath.length - extname(imagePath).length)}.txt`;
  const text = await readFile(sidecar, 'utf8').catch(() => '');
  const caption = text.replace(/^\uFEFF/, '').trim();
  return caption === '' ? undefined : caption;
}

/** Read, hash and preprocess a batch concurrently (sharp decodes on libuv threads); failures are collected. */
export async function prepare(
  input: string,
  files: string[],
  params: ImagePreprocessParams,
  maxPixels?: number,
  maxBytes?: number,
): Promise<Prepared> {
  const s = params.cropSize;
  const results = await Promise.all(
    files.map(async (rel) => {
      const path = join(input, rel);
      try {
        // Size and header are checked before the body is read (a sparse 1 GB file costs nothing).
        const bytes = await readImageFile(path, { maxBytes, maxPixels });
        const pixels = await preprocessImage(bytes, params, { name: path, maxPixels });
        return { rel, hash: sha256(bytes), pixels, caption: await sidecarCaption(path) };
      } catch (err) {
        return { rel, error: err instanceof Error ? err.message : String(err), fault: faultOf(err) };
      }
    }),
  );
  const ok = results.filter(
    (r): r is { rel: string; hash: string; pixels: Float32Array; caption: string | undefined } =>
      'pixels' in r,
  );
  const pixels = new Float32Array(ok.length * 3 * s * s);
  ok.forEach((r, i) => {
    pixels.set(r.pixels, i * 3 * s * s);
  });
  return {
    paths: ok.map((r) => r.rel),
    hashes: ok.map((r) => r.hash),
    captions: ok.map((r) => r.caption),
    pixels,
    failed: results
      .filter((r): r is { rel: string; error: string; fault: FileFault } => 'error' in r)
      .map((r) => ({ path: r.rel, reason: r.error, fault: r.fault })),
  };
}

/**
 * Of the entries a resumed dataset holds, the images still in the input whose bytes changed since (their
 * sha256 differs from the recorded one): they are tokenized again. Read 8 at a time.
 */
async function changedImages(
  input: string,
  present: Set<string>,
  entries: IndexEntry[],
): Promise<Set<string>> {
  const changed = new Set<string>();
  const todo = entries.filter((e) => present.has(e.path));
  for (let i = 0; i < todo.length; i += 8) {
    await Promise.all(
      todo.slice(i, i + 8).map(async (e) => {
        const now = await sha256File(join(input, e.path)).catch(() => undefined);
        if (now !== undefined && now !== e.sha256) changed.add(e.path);
      }),
    );
  }
  return changed;
}

/**
 * Tokenize every image under `input` into a resumable dataset at `out` (see docs/formats.md).
 * The next batch is decoded while the model runs on the current one.
 */
export async function tokenizeDirectory(rt: ModelRuntime, o: TokenizeOptions): Promise<TokenizeResult> {
  const t0 = performance.now();
  const onProgress = o.onProgress ?? silentProgress;
  const params = clipPreprocessParams(rt.imageSize, o.alpha);
  const skips = new SkipTally();
  const files = await listImages(o.input, {
    onSkip: (k) => {
      skips.add(k);
      onProgress({ task: 'tokenize', done: 0, message: `skipped ${k.path}: ${k.detail}` });
    },
  });
  const meta: TokenDatasetMeta = {
    format: 'qlip-tokens',
    version: 1,
    model: o.model,
    bits: rt.bits,
    grid: rt.grid,
    imageSize: rt.imageSize,
    patchSize: rt.patchSize,
    preprocessing: params as unknown as Record<string, unknown>,
    shardSize: o.shardSize ?? 4096,
    ...(o.features ? { features: { dim: rt.featureDim, dtype: 'float16' as const } } : {}),
    createdBy: o.createdBy ?? 'qlip',
  };
  // One writer per dataset: a second tokenize into the same --out is refused, naming this one.
  const lock = await acquireOutputLock(o.out, 'qlip tokenize', {
    onNote: (message) => onProgress({ task: 'tokenize', done: 0, message }),
  });
  try {
    return await tokenizeLocked(rt, o, files, meta, params, t0, skips);
  } finally {
    await lock.release();
  }
}

async function tokenizeLocked(
  rt: ModelRuntime,
  o: TokenizeOptions,
  files: string[],
  meta: TokenDatasetMeta,
  params: ImagePreprocessParams,
  t0: number,
  skips: SkipTally,
): Promise<TokenizeResult> {
  const batchSize = o.batchSize ?? 16;
  const onProgress = o.onProgress ?? silentProgress;
  const note = (message: string) => onProgress({ task: 'tokenize', done: 0, message });
  const writer = await TokenDatasetWriter.open(o.out, meta, {
    onNote: note,
    changed: (entries) => changedImages(o.input, new Set(files), entries),
  });
  const alreadyDone = files.filter((f) => writer.done.has(f)).length;
  const pending = files.filter((f) => !writer.done.has(f));
  const failed: TokenizeResult['failed'] = [];
  let tokenized = 0;
  let interrupted = false;
  onProgress({
    task: 'tokenize',
    done: 0,
    total: pending.length,
    unit: 'images',
    message: alreadyDone ? `resuming: ${alreadyDone} of ${files.length} images already tokenized` : undefined,
  });
  // The next chunk is read and decoded while the model runs on the current one.
  const prepareFrom = (from: number) =>
    from < pending.length
      ? prepare(o.input, pending.slice(from, from + batchSize), params, o.maxPixels, o.maxFileBytes)
      : undefined;
  let next = prepareFrom(0);
  try {
    for (let start = 0; start < pending.length; start += batchSize) {
      const batch = await next!;
      const after = start + batchSize;
      next = prepareFrom(after);
      recordFailed(batch.failed, tokenized, failed, skips, onProgress);
      if (batch.paths.length) tokenized += await encodeBatch(rt, writer, batch, Boolean(o.features));
      const secs = (performance.now() - t0) / 1000;
      onProgress({
        task: 'tokenize',
        done: tokenized + failed.length,
        total: pending.length,
        unit: 'images',
        metrics: { 'img/s': tokenized / secs, skipped: failed.length },
      });
      if (o.signal?.aborted) {
        interrupted = after < pending.length;
        break;
      }
    }
  } finally {
    await next?.catch(() => undefined);
    await writer.close(); // what finished is always written, also on error or abort
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    input: o.input,
    out: o.out,
    runtime: rt.name,
    found: files.length,
    alreadyDone,
    tokenized,
    failed,
    skipped: skips.summary(),
    total: writer.done.size,
    interrupted,
    bits: rt.bits,
    grid: rt.grid,
    seconds,
    imagesPerSecond: tokenized / Math.max(seconds, 1e-9),
  };
}

/** A batch's unreadable files: a progress note each (done counted before them), then listed and tallied. */
function recordFailed(
  batchFailed: Awaited<ReturnType<typeof prepare>>['failed'],
  tokenized: number,
  failed: TokenizeResult['failed'],
  skips: SkipTally,
  onProgress: ProgressListener,
): void {
  for (const f of batchFailed)
    onProgress({
      task: 'tokenize',
      done: tokenized + failed.length,
      message: `skipped ${f.path}: ${f.reason}`,
    });
  for (const f of batchFailed) {
    failed.push({ path: f.path, reason: f.reason });
    skips.add({ path: f.path, reason: f.fault, detail: f.reason });
  }
}

/** Encode one prepared batch and add its rows (tokens, and features when asked) to the dataset; returns its size. */
async function encodeBatch(
  rt: ModelRuntime,
  writer: TokenDatasetWriter,
  batch: Awaited<ReturnType<typeof prepare>>,
  withFeatures: boolean,
): Promise<number> {
  const n = rt.grid[0] * rt.grid[1]; // tokens per image
  const d = rt.featureDim;
  const { indices, features } = await rt.encode(batch.pixels, batch.paths.length, { features: withFeatures });
  await writer.add(
    batch.paths.map((path, i) => ({
      path,
      sha256: batch.hashes[i]!,
      ...(batch.captions[i] !== undefined ? { caption: batch.captions[i] } : {}),
      tokens: indices.subarray(i * n, (i + 1) * n), // [N]
      ...(features ? { features: features.subarray(i * n * d, (i + 1) * n * d) } : {}), // [N, D]
    })),
  );
  return batch.paths.length;
}
