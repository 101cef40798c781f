import { join } from 'node:path';
import {
  type AlphaMode,
  clipPreprocessParams,
  denormalizeImages,
  listImages,
  type ProgressListener,
  type RgbImage,
  sideBySide,
  silentProgress,
  writePng,
} from '@qlip/core';
import { readTokenDataset } from './dataset.js';
import type { TokenizerRuntime } from './runtime.js';
import { prepare } from './tokenize.js';

export interface ReconstructOptions {
  /** A folder of images, or a tokenized dataset folder (it has meta.json). */
  input: string;
  /** Output folder for PNGs (mirrors the input's relative paths, with a .png extension). */
  out: string;
  batchSize?: number;
  /** Write "input | reconstruction" side by side (images only: a dataset has no originals). */
  sideBySide?: boolean;
  maxPixels?: number;
  /** Transparent pixels of input images: `drop` (default, as in training), or composite on `white`/`black`. */
  alpha?: AlphaMode;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ReconstructResult {
  input: string;
  out: string;
  runtime: string;
  /** `images` for a folder of images, `dataset` for a tokenized dataset. */
  mode: 'images' | 'dataset';
  written: number;
  failed: { path: string; reason: string }[];
  interrupted: boolean;
  seconds: number;
  imagesPerSecond: number;
}

const pngName = (rel: string) => `${rel.replace(/\.[^./]+$/, '')}.png`;

/** Decode every image of a folder through the tokenizer and write the reconstructions as PNGs. */
export async function reconstructImages(
  rt: TokenizerRuntime,
  o: ReconstructOptions,
): Promise<ReconstructResult> {
  const t0 = performance.now();
  const onProgress = o.onProgress ?? silentProgress;
  const bs = o.batchSize ?? 16;
  const s = rt.imageSize;
  const params = clipPreprocessParams(s, o.alpha);
  const files = await listImages(o.input);
  const failed: ReconstructResult['failed'] = [];
  let written = 0;
  let interrupted = false;
  for (let start = 0; start < files.length; start += bs) {
    const chunk = files.slice(start, start + bs);
    const batch = await prepare(o.input, chunk, params, o.maxPixels);
    for (const f of batch.failed) {
      failed.push(f);
      onProgress({
        task: 'reconstruct',
        done: written + failed.length,
        message: `skipped ${f.path}: ${f.reason}`,
      });
    }
    const n = batch.paths.length;
    if (n) {
      const { pixels } = batch;
      const { indices } = await rt.encode(pixels, n, { features: false });
      const recon = denormalizeImages(await rt.decode(indices, n), [n, 3, s, s]);
      const originals = o.sideBySide ? denormalizeImages(pixels, [n, 3, s, s]) : [];
      await Promise.all(
        batch.paths.map((rel, i) => {
          const img: RgbImage = o.sideBySide ? sideBySide([originals[i]!, recon[i]!]) : recon[i]!;
          return writePng(join(o.out, pngName(rel)), img);
        }),
      );
      written += n;
    }
    onProgress({ task: 'reconstruct', done: written + failed.length, total: files.length, unit: 'images' });
    if (o.signal?.aborted && start + bs < files.length) {
      interrupted = true;
      break;
    }
  }
  return finish(rt, o, 'images', written, failed, interrupted, t0);
}

/** Decode a tokenized dataset's tokens back into PNGs (one per index.jsonl line). */
export async function reconstructDataset(
  rt: TokenizerRuntime,
  o: ReconstructOptions,
): Promise<ReconstructResult> {
  const t0 = performance.now();
  const onProgress = o.onProgress ?? silentProgress;
  const ds = await readTokenDataset(o.input);
  const { meta } = ds;
  if (
    meta.bits !== rt.bits ||
    meta.grid[0] !== rt.grid[0] ||
    meta.grid[1] !== rt.grid[1] ||
    meta.imageSize !== rt.imageSize
  ) {
    throw new Error(
      `${join(o.input, 'meta.json')}: tokens are ${meta.bits}-bit on a ${meta.grid.join('x')} grid at ${meta.imageSize}px; ` +
        `the model expects ${rt.bits}-bit, ${rt.grid.join('x')}, ${rt.imageSize}px`,
    );
  }
  if (o.sideBySide)
    onProgress({
      task: 'reconstruct',
      done: 0,
      message: 'a tokenized dataset has no originals: writing reconstructions only',
    });
  const n = meta.grid[0] * meta.grid[1];
  const s = rt.imageSize;
  const bs = o.batchSize ?? 16;
  const shards = [...new Set(ds.entries.map((e) => e.shard))].sort((a, b) => a - b);
  let written = 0;
  let interrupted = false;
  outer: for (const shard of shards) {
    const tokens = await ds.loadTokens(shard);
    const rows = ds.entries.filter((e) => e.shard === shard);
    for (let i = 0; i < rows.length; i += bs) {
      const chunk = rows.slice(i, i + bs);
      const idx = new Uint32Array(chunk.length * n); // [b, N]
      for (const [j, e] of chunk.entries()) idx.set(tokens.subarray(e.row * n, (e.row + 1) * n), j * n);
      const imgs = denormalizeImages(await rt.decode(idx, chunk.length), [chunk.length, 3, s, s]);
      await Promise.all(chunk.map((e, j) => writePng(join(o.out, pngName(e.path)), imgs[j]!)));
      written += chunk.length;
      onProgress({ task: 'reconstruct', done: written, total: ds.entries.length, unit: 'images' });
      if (o.signal?.aborted && written < ds.entries.length) {
        interrupted = true;
        break outer;
      }
    }
  }
  return finish(rt, o, 'dataset', written, [], interrupted, t0);
}

function finish(
  rt: TokenizerRuntime,
  o: ReconstructOptions,
  mode: ReconstructResult['mode'],
  written: number,
  failed: ReconstructResult['failed'],
  interrupted: boolean,
  t0: number,
): ReconstructResult {
  const seconds = (performance.now() - t0) / 1000;
  return {
    input: o.input,
    out: o.out,
    runtime: rt.name,
    mode,
    written,
    failed,
    interrupted,
    seconds,
    imagesPerSecond: written / Math.max(seconds, 1e-9),
  };
}
