import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { describeLockHolder, OutputLockedError, type ProgressListener, silentProgress } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { UnifiedModel } from '@qlip/unified';
import { exportOnnx, graphVariant, ONNX_GRAPHS, ONNX_MANIFEST, type OnnxManifest } from '../onnx/export.js';
import type { GraphVariant, OnnxPrecision } from '../onnx/graph.js';
import {
  exportUnifiedOnnx,
  UNIFIED_ONNX_GRAPHS,
  UNIFIED_ONNX_MANIFEST,
  type UnifiedOnnxManifest,
} from '../onnx/unified.js';
import { resolveOnnxDir } from './model-runtime.js';

/**
 * Where qlip keeps the ONNX exports it makes for `qlip serve` and `--runtime auto|onnx`: $QLIP_CACHE, else
 * $XDG_CACHE_HOME/qlip, else ~/.cache/qlip.
 */
export function defaultCacheDir(): string {
  if (process.env.QLIP_CACHE) return resolve(process.env.QLIP_CACHE);
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qlip');
}

/** An ONNX export ready to run or serve. */
export interface PreparedOnnx {
  /** Folder holding qlip-onnx.json and the graphs. */
  dir: string;
  /** Files of the export (relative to `dir`), the only ones served. */
  files: string[];
  manifest: OnnxManifest;
  /** `model` (the model's own export), `cache` (an earlier export reused) or `exported` (made now). */
  origin: 'model' | 'cache' | 'exported';
}

/** The files an export consists of: the manifest, its graphs and their external weights when present. */
async function exportFiles(dir: string): Promise<{ files: string[]; manifest: OnnxManifest }> {
  const manifest = JSON.parse(await readFile(join(dir, ONNX_MANIFEST), 'utf8')) as OnnxManifest;
  const present = new Set(await readdir(dir));
  const files = [ONNX_MANIFEST];
  for (const g of Object.values(manifest.graphs)) {
    if (!g) continue;
    if (!present.has(g)) throw new Error(`${join(dir, g)}: listed in ${ONNX_MANIFEST} but missing`);
    files.push(g);
    if (present.has(`${g}.data`)) files.push(`${g}.data`);
  }
  return { files, manifest };
}

/**
 * What identifies a model's weights for the cache: config.json's text and each weights file's name, size
 * and modification time (hashing gigabytes of weights on every start would be slow), plus the export
 * format (graph names, opset), so a different model or a newer exporter never reuses a stale export.
 */
async function cacheKey(
  modelDir: string,
  graphs: object = ONNX_GRAPHS,
  variant?: GraphVariant,
): Promise<string> {
  const h = createHash('sha256');
  h.update(await readFile(join(modelDir, 'config.json')));
  for (const name of (await readdir(modelDir)).sort()) {
    if (!/\.(safetensors|json)$/.test(name) || name === 'config.json') continue;
    const s = await stat(join(modelDir, name));
    h.update(`${name}\0${s.size}\0${s.mtimeMs}\0`);
  }
  h.update(JSON.stringify(graphs));
  // Precision and attention form: an int8 or contrib-op export never stands in for the fp32 one.
  if (variant) h.update(`\0precision=${variant.precision}\0attention=${variant.attention}`);
  return h.digest('hex').slice(0, 16);
}

export interface PrepareOnnxOptions {
  /** Cache folder (default `defaultCacheDir()`); exports go to `<cacheDir>/onnx/<model name>-<key>/`. */
  cacheDir?: string;
  onProgress?: ProgressListener;
  /** Called once before a model is loaded for an export (e.g. to select the tfjs backend it runs on). */
  beforeExport?: () => Promise<void>;
  /**
   * `fp32` (default: the standard graphs, indices identical to tfjs) or `int8` (dynamically quantised
   * transformer blocks: faster, lower precision, never the default).
   */
  precision?: OnnxPrecision;
}

/**
 * The graphs `prepareOnnx` caches per precision: standard attention at every precision. The
 * com.microsoft.MultiHeadAttention form (`attention: 'ort'`) gives identical indices but measured no faster on
 * bench-s at 1 thread, in fp32 or int8 (CPU time per batch within 0-2 %, interleaved: bench/onnx-variants.ts,
 * docs/performance.md), so the cache keeps graphs any ONNX runtime opens.
 */
function cachedVariant(precision: OnnxPrecision = 'fp32'): GraphVariant {
  return graphVariant({ precision, attention: 'standard' });
}

/**
 * The ONNX export of `modelDir`: its own (`qlip-onnx.json` in the folder or in `onnx/`), else a cached one,
 * else exported now into `<cacheDir>/onnx/<name>-<key>/` (atomically: an interrupted export leaves
 * nothing). Nothing is ever written into the model's folder.
 */
export async function prepareOnnx(modelDir: string, opts: PrepareOnnxOptions = {}): Promise<PreparedOnnx> {
  const progress = opts.onProgress ?? silentProgress;
  const variant = cachedVariant(opts.precision);
  let own: string | null = null;
  try {
    own = resolveOnnxDir(modelDir);
  } catch {
    own = null;
  }
  if (own) {
    const found = await exportFiles(own);
    // The model's own export serves the precision it was made at (fp32 when the manifest predates precision).
    if ((found.manifest.precision ?? 'fp32') === variant.precision)
      return { dir: own, ...found, origin: 'model' };
  }
  if (!existsSync(join(modelDir, 'config.json'))) {
    throw new Error(
      `${modelDir}: neither an ONNX export (no ${ONNX_MANIFEST} here or in onnx/) nor a QLIP model folder (no config.json)`,
    );
  }
  const tag = variant.precision === 'fp32' ? '' : `-${variant.precision}`;
  const dir = join(
    opts.cacheDir ?? defaultCacheDir(),
    'onnx',
    `${basename(resolve(modelDir))}${tag}-${await cacheKey(modelDir, ONNX_GRAPHS, variant)}`,
  );
  const cached = await exportOnce(modelDir, dir, progress, opts.beforeExport, tokenizerExport(variant));
  return { dir, ...(await exportFiles(dir)), origin: cached ? 'cache' : 'exported' };
}

/** How often a process waiting for another one's export of the same model looks again. */
const WAIT_POLL_MS = 250;

/**
 * Export `modelDir` into cache entry `dir` unless it is already there (then true). The export holds the
 * entry's output lock (writeStaged), and the manifest is moved in last, so a manifest means a complete
 * export; a second process finding the entry locked waits for that export and reuses it instead of racing.
 */
async function exportOnce(
  modelDir: string,
  dir: string,
  progress: ProgressListener,
  beforeExport: (() => Promise<void>) | undefined,
  kind: ExportKind,
): Promise<boolean> {
  let told = false;
  let prepared = false;
  for (;;) {
    if (existsSync(join(dir, kind.manifest))) return true;
    try {
      if (!prepared) await beforeExport?.();
      prepared = true;
      await exportInto(modelDir, dir, progress, kind);
      return false;
    } catch (err) {
      if (!(err instanceof OutputLockedError) || !err.holder) throw err;
      if (!told) {
        progress({
          task: 'export',
          done: 0,
          total: 2,
          unit: 'steps',
          message: `waiting for ${describeLockHolder(err.holder)}, which is exporting this model to ${dir}`,
        });
        told = true;
      }
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
    }
  }
}

/** What differs between exporting a tokenizer and a unified model into the cache. */
interface ExportKind {
  manifest: string;
  load(modelDir: string): Promise<{ write(dir: string): Promise<unknown>; dispose(): void }>;
}

function tokenizerExport(variant: GraphVariant): ExportKind {
  return {
    manifest: ONNX_MANIFEST,
    async load(modelDir) {
      const model = await QLIPModel.load(modelDir);
      return {
        write: (dir) => exportOnnx(model, dir, { overwrite: true, sourceDir: modelDir, ...variant }),
        dispose: () => model.dispose(),
      };
    },
  };
}

const UNIFIED_EXPORT: ExportKind = {
  manifest: UNIFIED_ONNX_MANIFEST,
  async load(modelDir) {
    const model = await UnifiedModel.load(modelDir);
    return {
      write: (dir) => exportUnifiedOnnx(model, dir, { overwrite: true }),
      dispose: () => model.dispose(),
    };
  },
};

/** A unified model's ONNX export, ready to serve. */
export interface PreparedUnifiedOnnx {
  dir: string;
  files: string[];
  manifest: UnifiedOnnxManifest;
  origin: PreparedOnnx['origin'];
}

/**
 * The unified ONNX graphs of `modelDir` (a unified model folder or a folder holding unified-onnx.json):
 * exported once into `<cacheDir>/onnx/<name>-<key>/` like `prepareOnnx`, never into the model folder.
 */
export async function prepareUnifiedOnnx(
  modelDir: string,
  opts: PrepareOnnxOptions = {},
): Promise<PreparedUnifiedOnnx> {
  const files = async (dir: string) => {
    const manifest = JSON.parse(
      await readFile(join(dir, UNIFIED_ONNX_MANIFEST), 'utf8'),
    ) as UnifiedOnnxManifest;
    return { files: [UNIFIED_ONNX_MANIFEST, ...Object.values(manifest.graphs)], manifest };
  };
  for (const own of [modelDir, join(modelDir, 'onnx')])
    if (existsSync(join(own, UNIFIED_ONNX_MANIFEST)))
      return { dir: own, ...(await files(own)), origin: 'model' };
  if (!existsSync(join(modelDir, 'config.json')))
    throw new Error(
      `${modelDir}: neither a unified ONNX export (no ${UNIFIED_ONNX_MANIFEST}) nor a unified model folder (no config.json)`,
    );
  const key = await cacheKey(modelDir, UNIFIED_ONNX_GRAPHS);
  const dir = join(opts.cacheDir ?? defaultCacheDir(), 'onnx', `${basename(resolve(modelDir))}-${key}`);
  const progress = opts.onProgress ?? silentProgress;
  const cached = await exportOnce(modelDir, dir, progress, opts.beforeExport, UNIFIED_EXPORT);
  return { dir, ...(await files(dir)), origin: cached ? 'cache' : 'exported' };
}

/** Load the model and write its ONNX graphs into `dir` (staged and renamed: an interrupted export leaves nothing). */
async function exportInto(
  modelDir: string,
  dir: string,
  progress: ProgressListener,
  kind: ExportKind,
): Promise<void> {
  const steps = 2;
  progress({ task: 'export', done: 0, total: steps, unit: 'steps', message: `loading ${modelDir}` });
  const done = await kind.load(modelDir);
  try {
    progress({
      task: 'export',
      done: 1,
      total: steps,
      unit: 'steps',
      message: `exporting ONNX graphs to ${dir}`,
    });
    await done.write(dir);
  } finally {
    done.dispose();
  }
  progress({ task: 'export', done: steps, total: steps, unit: 'steps', message: `exported ${dir}` });
}
