import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULT_MAX_FILE_BYTES,
  imageExtensions,
  type ListSkip,
  listImages,
  readImageFile,
} from '@qlip/core';
import {
  expandShards,
  isShardUrl,
  type ManifestFormat,
  manifestFormat,
  parseManifest,
  readShard,
} from '@qlip/data';
import { checkPartName } from './parts.js';

/**
 * One unit of work: the samples that become one output part. Plain JSON, so it can be a queue job's
 * payload; `order` is its position in the planned list (parts are read back in this order).
 */
export type InputShard =
  | { name: string; order: number; kind: 'tar'; location: string }
  | { name: string; order: number; kind: 'files'; root: string; files: string[] }
  | {
      name: string;
      order: number;
      kind: 'manifest';
      manifest: string;
      format: ManifestFormat;
      first: number;
      count: number;
    };

/** One sample read from an input shard, bytes not yet decoded. */
export interface InputSample {
  key: string;
  path?: string;
  caption: string;
  bytes(): Promise<Buffer>;
}

/** A sample the reader dropped (no image in a tar group, unsafe entry name), reported as failed. */
export interface InputSkip {
  key: string;
  reason: string;
  /** Short camelCase cause (`missingImage`, `unsafePath`, `badEntry`, `tooLarge`...). */
  fault: string;
}

const isManifest = (p: string) => /\.(jsonl|ndjson|csv|tsv|tab)$/i.test(p);
const isTar = (p: string) => /\.tar$/i.test(p.replace(/[?#].*$/, ''));
const pad = (i: number) => String(i).padStart(5, '0');

/** A part name from a shard location: its base name without `.tar` (`shards/00042.tar` -> `00042`). */
function tarPartName(location: string): string {
  const base = path.posix.basename(location.replace(/[?#].*$/, '')).replace(/\.tar$/i, '');
  return checkPartName(base.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/** Split `items` into consecutive chunks of `size`: chunk i holds items [i*size, (i+1)*size). */
function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The input shards of `src`, in a deterministic order:
 * - WebDataset `.tar` files, `http(s)://` URLs and brace patterns (`shards/{00000..09999}.tar`): one shard per tar;
 * - a `.jsonl`/`.csv`/`.tsv` manifest: consecutive chunks of `chunkSize` rows;
 * - a folder: its images (recursive, sorted by path) in consecutive chunks of `chunkSize`;
 * - a single image file: one shard of one image.
 * Errors name the input and what was expected.
 */
export async function planInputs(
  src: string,
  chunkSize: number,
  onSkip?: (skip: ListSkip) => void,
): Promise<InputShard[]> {
  if (!(Number.isInteger(chunkSize) && chunkSize > 0))
    throw new Error(`chunk size must be a positive integer, got ${chunkSize}`);
  const expanded = expandShards(src);
  if (expanded.length > 1 || isShardUrl(src) || isTar(src)) return planTars(src, expanded);
  const abs = expanded[0]!;
  const st = await stat(abs).catch(() => null);
  if (st === null) throw new Error(`${src}: no such file or folder`);
  if (st.isDirectory()) {
    // Sorted; unreadable folders and dangling symlinks are reported; throws naming the folder when it holds no images.
    const files = await listImages(abs, { onSkip });
    return chunks(files, chunkSize).map((f, i) => ({
      name: pad(i),
      order: i,
      kind: 'files',
      root: abs,
      files: f,
    }));
  }
  if (isManifest(abs)) {
    const format = manifestFormat(abs);
    const rows = parseManifest(await readFile(abs, 'utf8'), abs, format).length;
    const shards: InputShard[] = [];
    for (let i = 0; i * chunkSize < rows; i++)
      shards.push({
        name: pad(i),
        order: i,
        kind: 'manifest',
        manifest: abs,
        format,
        first: i * chunkSize,
        count: Math.min(chunkSize, rows - i * chunkSize),
      });
    return shards;
  }
  if (imageExtensions().includes(path.extname(abs).toLowerCase()))
    return [
      {
        name: checkPartName(path.basename(abs).replace(/[^A-Za-z0-9._-]/g, '_')),
        order: 0,
        kind: 'files',
        root: path.dirname(abs),
        files: [path.basename(abs)],
      },
    ];
  throw new Error(`${src}: not a folder, image, .tar shard, brace pattern or manifest (.jsonl, .csv, .tsv)`);
}

async function planTars(src: string, locations: string[]): Promise<InputShard[]> {
  const seen = new Map<string, string>();
  return Promise.all(
    locations.map(async (location, order) => {
      if (!isTar(location)) throw new Error(`${location}: expected a WebDataset .tar shard (from ${src})`);
      if (!isShardUrl(location)) {
        const st = await stat(location).catch(() => null);
        if (!st?.isFile()) throw new Error(`${location}: shard ${st ? 'is not a file' : 'does not exist'}`);
      }
      const name = tarPartName(location);
      const other = seen.get(name);
      if (other !== undefined)
        throw new Error(
          `${location} and ${other} would both write part '${name}': give shards distinct file names`,
        );
      seen.set(name, location);
      return { name, order, kind: 'tar' as const, location };
    }),
  );
}

/** Input shards `i` with `i mod count == index` (a job array's share). */
export function selectShards(shards: InputShard[], index: number, count: number): InputShard[] {
  if (!(Number.isInteger(count) && count >= 1)) throw new Error(`shard count must be >= 1, got ${count}`);
  if (!(Number.isInteger(index) && index >= 0 && index < count))
    throw new Error(`shard index must be in 0..${count - 1}, got ${index}`);
  return shards.filter((_, i) => i % count === index);
}

/** Where a shard's samples come from, for messages and index rows. */
export function shardSource(s: InputShard): string {
  return s.kind === 'tar' ? s.location : s.kind === 'files' ? s.root : s.manifest;
}

/**
 * Read an input shard's samples in order. A tar that cannot be read to its end (truncated, a dropped
 * connection) throws, so the caller writes nothing for it and the shard is retried whole.
 */
export async function* readInputShard(
  s: InputShard,
  onSkip: (skip: InputSkip) => void,
  limits: { maxBytes?: number; maxPixels?: number } = {},
): AsyncGenerator<InputSample> {
  if (s.kind === 'tar') {
    const ctx = {
      rng: null,
      seen: () => {},
      skip: (e: { key: string; reason: string; detail: string }) =>
        onSkip({ key: e.key, reason: e.detail, fault: e.reason }),
    };
    for await (const sample of readShard(s.location, ctx, { strict: true, captionOptional: true })) {
      const bytes = await sample.image();
      if (!Buffer.isBuffer(bytes))
        throw new Error(`${s.location}: ${sample.key}: expected encoded image bytes`);
      const max = limits.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
      if (bytes.length > max) {
        onSkip({
          key: sample.key,
          reason: `${bytes.length} bytes, over the ${max}-byte limit`,
          fault: 'tooLarge',
        });
        continue;
      }
      yield { key: sample.key, caption: sample.caption, bytes: async () => bytes };
    }
  } else if (s.kind === 'files') {
    for (const rel of s.files) {
      const file = path.join(s.root, rel);
      const sidecar = `${file.slice(0, file.length - path.extname(file).length)}.txt`;
      const caption = (await readFile(sidecar, 'utf8').catch(() => '')).replace(/^\uFEFF/, '').trim();
      yield { key: rel, path: rel, caption, bytes: () => readImageFile(file, limits) };
    }
  } else {
    const rows = parseManifest(await readFile(s.manifest, 'utf8'), s.manifest, s.format);
    const dir = path.dirname(s.manifest);
    const base = path.basename(s.manifest);
    for (const row of rows.slice(s.first, s.first + s.count)) {
      const rel = path.relative(dir, row.image).split(path.sep).join('/');
      const key = `${base}:${row.line}`;
      // An image outside the manifest's folder has no safe relative path: it is known by its key only.
      const where = rel.startsWith('../') || path.isAbsolute(rel) ? {} : { path: rel };
      yield { key, ...where, caption: row.caption, bytes: () => readImageFile(row.image, limits) };
    }
  }
}

/** A job array's share: this process takes input shards `i mod count == index`. */
export interface Share {
  index: number;
  count: number;
  /** Where the numbers came from. */
  from: 'flags' | 'kubernetes' | 'slurm' | 'single';
}

const envInt = (env: NodeJS.ProcessEnv, name: string): number | undefined => {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}='${v}' is not a non-negative integer`);
  return n;
};

/**
 * This process's share of a job array, from `--shard-index/--shard-count` or, when absent, from the
 * scheduler: a Kubernetes Indexed Job sets `JOB_COMPLETION_INDEX` (the count is the Job's `completions`,
 * which it does not export: pass `--shard-count` or set `QLIP_SHARD_COUNT`); a SLURM array sets
 * `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_COUNT`.
 */
export function resolveShare(flags: { index?: number; count?: number }, env = process.env): Share {
  const count = flags.count ?? envInt(env, 'QLIP_SHARD_COUNT');
  if (flags.index !== undefined) {
    if (count === undefined) throw new Error('--shard-index needs --shard-count');
    return { index: flags.index, count, from: 'flags' };
  }
  const k8s = envInt(env, 'JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    if (count === undefined)
      throw new Error(
        "JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job): pass --shard-count (the Job's completions) or set QLIP_SHARD_COUNT",
      );
    return { index: k8s, count, from: 'kubernetes' };
  }
  const slurm = envInt(env, 'SLURM_ARRAY_TASK_ID');
  if (slurm !== undefined) {
    const n = count ?? envInt(env, 'SLURM_ARRAY_TASK_COUNT');
    if (n === undefined)
      throw new Error('SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shard-count');
    return { index: slurm - (envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0), count: n, from: 'slurm' };
  }
  if (count !== undefined && count !== 1)
    throw new Error('--shard-count needs --shard-index (or a job array environment)');
  return { index: 0, count: 1, from: 'single' };
}
