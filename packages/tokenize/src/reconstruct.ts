import { isAbsolute, join } from 'node:path';
import {
  type AlphaMode,
  acquireOutputLock,
  clipPreprocessParams,
  denormalizeImages,
  listImages,
  type ProgressListener,
  type RgbImage,
  type SkipSummary,
  SkipTally,
  sideBySide,
  silentProgress,
  writePng,
} from '@qlip/core';
import { readTokenDataset, type TokenDataset } from './dataset.js';
import type { ModelRuntime } from './runtime.js';
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
  /** Largest image file read (bytes, checked before reading); default 256 MiB. */
  maxFileBytes?: number;
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
  /** Inputs left out, counted by reason, first few listed (see `TokenizeResult.skipped`). */
  skipped: SkipSummary;
  interrupted: boolean;
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Output PNG names for input paths, unique and deterministic: `a/b.jpg` -> `a/b.png`, except when several
 * inputs would get one name (`a.png`, `a.jpg`, `a.webp` in one folder): then the one already named `.png`
 * keeps it and the others keep their extension (`a.jpg.png`, `a.webp.png`). Names are compared without case
 * (case-insensitive file systems); a last clash gets `~2`, `~3`. Decided over the sorted list, so the same
 * inputs always give the same names.
 */
export function outputPngNames(paths: readonly string[]): Map<string, string> {
  const stem = (rel: string) => rel.replace(/\.[^./]+$/, '');
  const preferred = (rel: string) => `${stem(rel)}.png`;
  const wanted = new Map<string, number>();
  for (const p of paths)
    wanted.set(preferred(p).toLowerCase(), (wanted.get(preferred(p).toLowerCase()) ?? 0) + 1);
  const used = new Set<string>();
  const names = new Map<string, string>();
  const sorted = [...new Set(paths)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Inputs whose preferred name is theirs alone, or that are already that .png, choose first.
  const first = sorted.filter((p) => wanted.get(preferred(p).toLowerCase()) === 1 || p === preferred(p));
  const rest = sorted.filter((p) => !first.includes(p));
  for (const p of [...first, ...rest]) {
    const candidates = [preferred(p), `${p}.png`];
    let name = candidates.find((c) => !used.has(c.toLowerCase()));
    for (let k = 2; name === undefined; k++) {
      const c = `${stem(p)}~${k}.png`;
      if (!used.has(c.toLowerCase())) name = c;
    }
    used.add(name.toLowerCase());
    names.set(p, name);
  }
  return names;
}

/** Why an index path may not be used as an output name, or null: relative, no `..`, no NUL, not empty. */
function unsafePath(p: unknown): string | null {
  if (typeof p !== 'string' || p === '') return 'is not a non-empty string';
  if (p.includes('\0')) return 'contains a NUL character';
  if (isAbsolute(p) || /^[A-Za-z]:/.test(p) || p.startsWith('/') || p.startsWith('\\')) return 'is absolute';
  if (p.split(/[\\/]/).some((seg) => seg === '..')) return 'leaves the output folder (..)';
  return null;
}

/**
 * One batch through the tokenizer and back: CLIP-normalised pixels `[n, 3, S, S]` -> token indices `[n, N]`
 * and the uint8 reconstructions (what `qlip reconstruct` writes and `qlip eval reconstruction` scores).
 */
export async function roundTrip(
  rt: ModelRuntime,
  pixels: Float32Array,
  n: number,
): Promise<{ indices: Uint32Array; images: RgbImage[] }> {
  const s = rt.imageSize;
  const { indices } = await rt.encode(pixels, n, { features: false });
  return { indices, images: denormalizeImages(await rt.decode(indices, n), [n, 3, s, s]) };
}

/** Decode every image of a folder through the tokenizer and write the reconstructions as PNGs. */
export async function reconstructImages(rt: ModelRuntime, o: ReconstructOptions): Promise<ReconstructResult> {
  const t0 = performance.now();
  const onProgress = o.onProgress ?? silentProgress;
  const bs = o.batchSize ?? 16;
  const s = rt.imageSize;
  const params = clipPreprocessParams(s, o.alpha);
  const skips = new SkipTally();
  const files = await listImages(o.input, { onSkip: (k) => skips.add(k) });
  const names = outputPngNames(files);
  const failed: ReconstructResult['failed'] = [];
  let written = 0;
  let interrupted = false;
  for (let start = 0; start < files.length; start += bs) {
    const chunk = files.slice(start, start + bs);
    const batch = await prepare(o.input, chunk, params, o.maxPixels, o.maxFileBytes);
    for (const f of batch.failed) {
      failed.push({ path: f.path, reason: f.reason });
      skips.add({ path: f.path, reason: f.fault, detail: f.reason });
      onProgress({
        task: 'reconstruct',
        done: written + failed.length,
        message: `skipped ${f.path}: ${f.reason}`,
      });
    }
    const n = batch.paths.length;
    if (n) {
      const { pixels } = batch;
      const { images: recon } = await roundTrip(rt, pixels, n);
      const originals = o.sideBySide ? denormalizeImages(pixels, [n, 3, s, s]) : [];
      await Promise.all(
        batch.paths.map((rel, i) => {
          const img: RgbImage = o.sideBySide ? sideBySide([originals[i]!, recon[i]!]) : recon[i]!;
          return writePng(join(o.out, names.get(rel)!), img);
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
  return finish(rt, o, 'images', written, failed, interrupted, t0, skips.summary());
}

/**
 * Check every index entry before anything is written: its path stays inside the output folder, its shard
 * exists and its row is inside that shard. A dataset with any bad entry is refused as a whole, listing the
 * first few faults.
 */
async function validateEntries(ds: TokenDataset, tokensPerImage: number): Promise<void> {
  const problems: string[] = [];
  const rowsOf = new Map<number, number>();
  for (const shard of new Set(ds.entries.map((e) => e.shard))) {
    if (!Number.isInteger(shard) || shard < 0) continue;
    try {
      rowsOf.set(shard, (await ds.loadTokens(shard)).length / tokensPerImage);
    } catch (err) {
      problems.push(`shard ${shard}: ${(err as Error).message}`);
    }
  }
  for (const [i, e] of ds.entries.entries()) {
    const at = `entry ${i + 1} (${JSON.stringify(e.path)})`;
    const bad = unsafePath(e.path);
    if (bad) problems.push(`${at}: path ${bad}`);
    if (!Number.isInteger(e.shard) || e.shard < 0)
      problems.push(`${at}: shard ${JSON.stringify(e.shard)} is not a shard number`);
    const rows = rowsOf.get(e.shard);
    if (rows !== undefined && (!Number.isInteger(e.row) || e.row < 0 || e.row >= rows))
      problems.push(`${at}: row ${JSON.stringify(e.row)} is outside shard ${e.shard} (${rows} rows)`);
  }
  if (problems.length) {
    const shown = problems.slice(0, 5).join('\n  ');
    throw new Error(
      `${ds.dir}: refusing this tokenized dataset: ${problems.length} invalid index entr${problems.length === 1 ? 'y' : 'ies'}` +
        `\n  ${shown}${problems.length > 5 ? `\n  ... and ${problems.length - 5} more` : ''}`,
    );
  }
}

/** Decode a tokenized dataset's tokens back into PNGs (one per index.jsonl line). */
export async function reconstructDataset(
  rt: ModelRuntime,
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
  await validateEntries(ds, n);
  const names = outputPngNames(ds.entries.map((e) => e.path));
  const lock = await acquireOutputLock(o.out, 'qlip reconstruct', {
    onNote: (message) => onProgress({ task: 'reconstruct', done: 0, message }),
  });
  try {
    const { written, interrupted } = await decodeEntries(rt, ds, names, o);
    return finish(rt, o, 'dataset', written, [], interrupted, t0, new SkipTally().summary());
  } finally {
    await lock.release();
  }
}

/** Decode the (validated) entries shard by shard into PNGs named by `names`. */
async function decodeEntries(
  rt: ModelRuntime,
  ds: TokenDataset,
  names: Map<string, string>,
  o: ReconstructOptions,
): Promise<{ written: number; interrupted: boolean }> {
  const onProgress = o.onProgress ?? silentProgress;
  const n = ds.meta.grid[0] * ds.meta.grid[1];
  const s = rt.imageSize;
  const bs = o.batchSize ?? 16;
  const shards = [...new Set(ds.entries.map((e) => e.shard))].sort((a, b) => a - b);
  let written = 0;
  for (const shard of shards) {
    const tokens = await ds.loadTokens(shard);
    const rows = ds.entries.filter((e) => e.shard === shard);
    for (let i = 0; i < rows.length; i += bs) {
      const chunk = rows.slice(i, i + bs);
      const idx = new Uint32Array(chunk.length * n); // [b, N]
      for (const [j, e] of chunk.entries()) idx.set(tokens.subarray(e.row * n, (e.row + 1) * n), j * n);
      const imgs = denormalizeImages(await rt.decode(idx, chunk.length), [chunk.length, 3, s, s]);
      await Promise.all(chunk.map((e, j) => writePng(join(o.out, names.get(e.path)!), imgs[j]!)));
      written += chunk.length;
      onProgress({ task: 'reconstruct', done: written, total: ds.entries.length, unit: 'images' });
      if (o.signal?.aborted && written < ds.entries.length) return { written, interrupted: true };
    }
  }
  return { written, interrupted: false };
}

function finish(
  rt: ModelRuntime,
  o: ReconstructOptions,
  mode: ReconstructResult['mode'],
  written: number,
  failed: ReconstructResult['failed'],
  interrupted: boolean,
  t0: number,
  skipped: SkipSummary,
): ReconstructResult {
  const seconds = (performance.now() - t0) / 1000;
  return {
    input: o.input,
    out: o.out,
    runtime: rt.name,
    mode,
    written,
    failed,
    skipped,
    interrupted,
    seconds,
    imagesPerSecond: written / Math.max(seconds, 1e-9),
  };
}
