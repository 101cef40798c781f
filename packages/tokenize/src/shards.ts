import {
  type AlphaMode,
  acquireOutputLock,
  clipPreprocessParams,
  faultOf,
  type ImagePreprocessParams,
  type ProgressListener,
  preprocessImage,
  type SkipSummary,
  SkipTally,
  silentProgress,
} from '@qlip/core';
import { batch, mapOrdered, prefetch } from '@qlip/data';
import type { TokenDatasetMeta } from './dataset.js';
import { sha256 } from './fingerprint.js';
import { type InputShard, planInputs, readInputShard, selectShards, shardSource } from './inputs.js';
import {
  chunkSizeFor,
  ensureDatasetMeta,
  type PartDone,
  type PartItem,
  partStaleness,
  removeDeadTemps,
  retirePart,
  scanParts,
  writePart,
} from './parts.js';
import type { IndexAgreement, ModelRuntime } from './runtime.js';

/** Settings every shard of one dataset shares (a queue job carries them too). */
export interface ShardSettings {
  /** Dataset folder (meta.json + parts/). */
  out: string;
  /** Recorded in meta.json. */
  model: { path: string; fingerprint: string };
  batchSize?: number;
  /** Images per input shard when the input is a folder or a manifest (tars are one shard each). */
  shardSize?: number;
  /** Also store post-quantisation features (float16). */
  features?: boolean;
  /** Decompression-bomb guard passed to the decoder. */
  maxPixels?: number;
  /** Largest image read (bytes; a file's size is checked before reading); default 256 MiB. */
  maxFileBytes?: number;
  /** Transparent pixels: `drop` (default, as the reference and training), or composite on `white`/`black`. */
  alpha?: AlphaMode;
  /** Written into meta.json (e.g. "qlip 0.1.0"). */
  createdBy?: string;
}

/** What happened to one input shard. */
export interface ShardOutcome {
  part: string;
  /** `written`: this call wrote the part; `exists`: another writer finished it meanwhile; `interrupted`: nothing written. */
  status: 'written' | 'exists' | 'interrupted';
  images: number;
  /** Samples left out, with the cause (`undecodable`, `tooLarge`, `missingImage`...) and why in full. */
  failed: { key: string; reason: string; fault: string; source: string }[];
  seconds: number;
}

/** True when `rt` runs below fp32 (its indices may differ from fp32's). */
function lowerPrecision(rt: ModelRuntime): boolean {
  return rt.precision !== undefined && rt.precision !== 'fp32';
}

/** A lower-precision runtime's precision and its measured agreement with fp32, for a job's result. */
function precisionReport(rt: ModelRuntime): { precision?: string; agreementWithFp32?: IndexAgreement } {
  if (!lowerPrecision(rt)) return {};
  const agreement = rt.agreement?.();
  return { precision: rt.precision, ...(agreement ? { agreementWithFp32: agreement } : {}) };
}

/** The dataset's meta.json for a runtime and settings. */
export function datasetMeta(rt: ModelRuntime, s: ShardSettings): TokenDatasetMeta {
  return {
    format: 'qlip-tokens',
    version: 2,
    model: s.model,
    bits: rt.bits,
    grid: rt.grid,
    imageSize: rt.imageSize,
    patchSize: rt.patchSize,
    preprocessing: clipPreprocessParams(rt.imageSize, s.alpha) as unknown as Record<string, unknown>,
    shardSize: s.shardSize ?? 4096,
    ...(s.features ? { features: { dim: rt.featureDim, dtype: 'float16' as const } } : {}),
    ...(lowerPrecision(rt) ? { precision: rt.precision } : {}),
    createdBy: s.createdBy ?? 'qlip',
  };
}

interface Decoded {
  key: string;
  path?: string;
  caption: string;
  sha256: string;
  pixels: Float32Array; // [3, S, S]
}

async function decodeSample(
  s: { key: string; path?: string; caption: string; bytes(): Promise<Buffer> },
  params: ImagePreprocessParams,
  maxPixels: number | undefined,
  failed: { key: string; reason: string; fault: string }[],
): Promise<Decoded | null> {
  try {
    const bytes = await s.bytes();
    const pixels = await preprocessImage(bytes, params, { name: s.path ?? s.key, maxPixels });
    return { key: s.key, path: s.path, caption: s.caption, sha256: sha256(bytes), pixels };
  } catch (err) {
    failed.push({
      key: s.key,
      reason: err instanceof Error ? err.message : String(err),
      fault: faultOf(err),
    });
    return null;
  }
}

/**
 * Tokenize one input shard into one part of the dataset at `s.out` (whose meta.json must exist). The
 * whole shard is held in memory and written at the end in one atomic step, so a crash, a kill or an
 * unreadable tar leaves nothing behind and the shard can simply be run again. `onImages` is told after
 * every batch (progress); `signal` stops between batches without writing.
 */
export async function tokenizeShard(
  rt: ModelRuntime,
  shard: InputShard,
  s: ShardSettings,
  hooks: { onImages?: (n: number) => void; signal?: AbortSignal } = {},
): Promise<ShardOutcome> {
  const t0 = performance.now();
  const bs = s.batchSize ?? 16;
  const params = clipPreprocessParams(rt.imageSize, s.alpha);
  const failed: { key: string; reason: string; fault: string }[] = [];
  const items: PartItem[] = [];
  const n = rt.grid[0] * rt.grid[1]; // tokens per image
  const d = rt.featureDim;
  const decoded = mapOrdered(
    readInputShard(shard, (skip) => failed.push(skip), { maxBytes: s.maxFileBytes, maxPixels: s.maxPixels }),
    (x) => decodeSample(x, params, s.maxPixels, failed),
    bs,
  );
  const source = shardSource(shard);
  const done = (status: ShardOutcome['status'], images: number): ShardOutcome => ({
    part: shard.name,
    status,
    images,
    failed: failed
      .map((f) => ({ ...f, source }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    seconds: (performance.now() - t0) / 1000,
  });
  for await (const group of prefetch(batch(decoded, bs), 1)) {
    if (hooks.signal?.aborted) return done('interrupted', 0);
    const pixels = new Float32Array(group.length * 3 * rt.imageSize ** 2); // [b, 3, S, S]
    for (const [i, g] of group.entries()) pixels.set(g.pixels, i * g.pixels.length);
    const { indices, features } = await rt.encode(pixels, group.length, { features: Boolean(s.features) });
    for (const [i, g] of group.entries())
      items.push({
        key: g.key,
        ...(g.path !== undefined ? { path: g.path } : {}),
        caption: g.caption,
        sha256: g.sha256,
        tokens: indices.slice(i * n, (i + 1) * n), // [N] of [b, N]
        ...(features ? { features: features.slice(i * n * d, (i + 1) * n * d) } : {}), // [N*D] of [b, N, D]
      });
    hooks.onImages?.(group.length);
  }
  if (hooks.signal?.aborted) return done('interrupted', 0);
  const meta = datasetMeta(rt, s);
  const wrote = await writePart(items, {
    out: s.out,
    meta,
    part: shard.name,
    order: shard.order,
    source,
    failed: done('written', 0).failed.map(({ key, reason }) => ({ key, reason })),
  });
  return done(wrote ? 'written' : 'exists', items.length);
}

export interface TokenizeDatasetOptions extends ShardSettings {
  /** A folder, an image, a manifest (.jsonl/.csv/.tsv), a WebDataset .tar, an http(s) URL or a brace pattern. */
  input: string;
  /** Job arrays: this process takes the input shards i with i mod shardCount == shardIndex. */
  shardIndex?: number;
  shardCount?: number;
  onProgress?: ProgressListener;
  /** Stop between batches; finished parts stay, the current shard is dropped (redone by a rerun). */
  signal?: AbortSignal;
  /** Tries per input shard that cannot be read (a dropped connection, a truncated tar); default 3. */
  attempts?: number;
  /** Delay before the first retry, doubled after each; default 1000 ms. */
  retryDelayMs?: number;
}

export interface TokenizeDatasetResult {
  input: string;
  out: string;
  runtime: string;
  /** `int8` when the encoder ran below fp32 (absent: fp32). */
  precision?: string;
  /** With a lower precision: its token indices against fp32's on a sample of the first images. */
  agreementWithFp32?: IndexAgreement;
  /** Input shards: all of them, this process's share, already finished before, written by this run. */
  shards: { total: number; selected: number; alreadyDone: number; written: number };
  /** Images in this process's share that an earlier run had already tokenized. */
  alreadyDone: number;
  /** Images tokenized by this run. */
  tokenized: number;
  /** Samples that could not be read or decoded (skipped), with their input shard. */
  failed: { key: string; reason: string; fault: string; source: string }[];
  /**
   * Everything left out, counted by reason (listing: `unreadableFolder`, `danglingSymlink`...; samples:
   * `undecodable`, `tooLarge`, `missingImage`...; whole shards: `unreadableShard`), first few listed.
   */
  skipped: SkipSummary;
  /** Input shards that could not be read after every try: no part was written for them (a rerun retries). */
  failedShards: { shard: string; source: string; reason: string }[];
  /** Images in the dataset now (all finished parts). */
  total: number;
  interrupted: boolean;
  bits: number;
  grid: [number, number];
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Finished parts of local files whose images changed, or whose chunk gained or lost images since, are
 * removed from `finished` and retired, so this run writes them again (and says so).
 */
async function retireStaleParts(
  out: string,
  mine: InputShard[],
  done: PartDone[],
  finished: Map<string, number>,
  note: (message: string) => void,
): Promise<void> {
  const byName = new Map(done.map((d) => [d.part, d]));
  for (const shard of mine) {
    const part = byName.get(shard.name);
    if (shard.kind !== 'files' || part === undefined) continue;
    const why = await partStaleness(out, part, shard);
    if (why === null) continue;
    note(`part ${shard.name} is tokenized again: ${why}`);
    await retirePart(out, shard.name);
    finished.delete(shard.name);
  }
}

/**
 * Tokenize `input` into the parts dataset `out` (see docs/formats.md): plan the input shards, keep this
 * process's share (`shardIndex`/`shardCount`), skip shards whose part is finished, and write one part per
 * remaining shard. A single process takes the output lock (a second `qlip tokenize` into the same folder
 * is refused, naming the holder); the processes of a job array do not: parts are written atomically, so
 * any number of them can fill one dataset at once.
 */
export async function tokenizeDataset(
  rt: ModelRuntime,
  options: TokenizeDatasetOptions,
): Promise<TokenizeDatasetResult> {
  const t0 = performance.now();
  // A rerun chunks a folder as the first run did, unless told otherwise (then meta.json refuses the change).
  const o = { ...options, shardSize: await chunkSizeFor(options.out, options.shardSize) };
  const onProgress = o.onProgress ?? silentProgress;
  const skips = new SkipTally();
  const plan = await planInputs(o.input, o.shardSize, (k) => {
    skips.add(k);
    onProgress({ task: 'tokenize', done: 0, message: `skipped ${k.path}: ${k.detail}` });
  });
  const mine = selectShards(plan, o.shardIndex ?? 0, o.shardCount ?? 1);
  await ensureDatasetMeta(o.out, datasetMeta(rt, o));
  const lock =
    (o.shardCount ?? 1) === 1
      ? await acquireOutputLock(o.out, 'qlip tokenize', {
          onNote: (message) => onProgress({ task: 'tokenize', done: 0, message }),
        })
      : undefined;
  try {
    await removeDeadTemps(o.out);
    const before = await scanParts(o.out);
    for (const d of before.damaged)
      onProgress({ task: 'tokenize', done: 0, message: `redoing part ${d.part}: ${d.fault}` });
    const finished = new Map(before.done.map((p) => [p.part, p.images]));
    await retireStaleParts(o.out, mine, before.done, finished, (message) =>
      onProgress({ task: 'tokenize', done: 0, message }),
    );
    const pending = mine.filter((s) => !finished.has(s.name));
    const run = await runShards(rt, pending, o, t0);
    for (const f of run.failed)
      skips.add({ path: `${f.source}:${f.key}`, reason: f.fault, detail: f.reason });
    for (const f of run.failedShards)
      skips.add({ path: f.source, reason: 'unreadableShard', detail: f.reason });
    const seconds = (performance.now() - t0) / 1000;
    return {
      input: o.input,
      out: o.out,
      runtime: rt.name,
      ...precisionReport(rt),
      shards: {
        total: plan.length,
        selected: mine.length,
        alreadyDone: mine.length - pending.length,
        written: run.written,
      },
      alreadyDone: mine.reduce((a, s) => a + (finished.get(s.name) ?? 0), 0),
      tokenized: run.tokenized,
      failed: run.failed,
      failedShards: run.failedShards,
      skipped: skips.summary(),
      total: (await scanParts(o.out)).done.reduce((a, p) => a + p.images, 0),
      interrupted: run.interrupted,
      bits: rt.bits,
      grid: rt.grid,
      seconds,
      imagesPerSecond: run.tokenized / Math.max(seconds, 1e-9),
    };
  } finally {
    await lock?.release();
  }
}

/** Tokenize `pending` shards one after the other, reporting progress; stops between batches on abort. */
async function runShards(rt: ModelRuntime, pending: InputShard[], o: TokenizeDatasetOptions, t0: number) {
  const onProgress = o.onProgress ?? silentProgress;
  const failed: TokenizeDatasetResult['failed'] = [];
  let tokenized = 0;
  let written = 0;
  let interrupted = false;
  const report = (message?: string) =>
    onProgress({
      task: 'tokenize',
      done: written,
      total: pending.length,
      unit: 'shards',
      message,
      metrics: {
        images: tokenized,
        'img/s': tokenized / ((performance.now() - t0) / 1000),
        skipped: failed.length,
      },
    });
  report(`${pending.length} input shards to tokenize`);
  const failedShards: TokenizeDatasetResult['failedShards'] = [];
  for (const shard of pending) {
    let inShard = 0;
    const r = await withRetries(
      () => {
        tokenized -= inShard; // a failed try's images are not in the dataset
        inShard = 0;
        return tokenizeShard(rt, shard, o, {
          signal: o.signal,
          onImages: (k) => {
            inShard += k;
            tokenized += k;
            report();
          },
        });
      },
      o,
      (attempt, err) => report(`${shard.name}: try ${attempt} failed (${err.message}), retrying`),
    ).catch((err: Error) => {
      tokenized -= inShard;
      failedShards.push({ shard: shard.name, source: shardSource(shard), reason: err.message });
      report(`${shard.name}: gave up after ${o.attempts ?? 3} tries: ${err.message}`);
      return null;
    });
    if (r === null) continue;
    if (r.status === 'interrupted') {
      tokenized -= inShard; // a dropped shard's images are not in the dataset; a rerun redoes them
      interrupted = true;
      break;
    }
    if (r.status === 'written') written++;
    failed.push(...r.failed);
    for (const f of r.failed) report(`skipped ${f.key} in ${f.source}: ${f.reason}`);
    report();
  }
  return { failed, failedShards, tokenized, written, interrupted };
}

/** Call `fn` up to `o.attempts` times, waiting `retryDelayMs` (doubling) between tries; rethrows the last error. */
async function withRetries<T>(
  fn: () => Promise<T>,
  o: { attempts?: number; retryDelayMs?: number; signal?: AbortSignal },
  onRetry: (attempt: number, err: Error) => void,
): Promise<T> {
  const attempts = o.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || o.signal?.aborted) throw err;
      onRetry(attempt, err as Error);
      await new Promise((r) => setTimeout(r, (o.retryDelayMs ?? 1000) * 2 ** (attempt - 1)));
    }
  }
}
