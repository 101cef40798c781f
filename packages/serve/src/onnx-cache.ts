import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { type ProgressListener, silentProgress } from '@qlip/core';
import { exportOnnx, ONNX_GRAPHS, ONNX_MANIFEST, type OnnxManifest, resolveOnnxDir } from '@qlip/export';
import { QLIPModel } from '@qlip/model';

/** Where `qlip serve` keeps the ONNX exports it makes: $QLIP_CACHE, else $XDG_CACHE_HOME/qlip, else ~/.cache/qlip. */
export function defaultCacheDir(): string {
  if (process.env.QLIP_CACHE) return resolve(process.env.QLIP_CACHE);
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qlip');
}

/** An ONNX export ready to serve. */
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
async function cacheKey(modelDir: string): Promise<string> {
  const h = createHash('sha256');
  h.update(await readFile(join(modelDir, 'config.json')));
  for (const name of (await readdir(modelDir)).sort()) {
    if (!/\.(safetensors|json)$/.test(name) || name === 'config.json') continue;
    const s = await stat(join(modelDir, name));
    h.update(`${name}\0${s.size}\0${s.mtimeMs}\0`);
  }
  h.update(JSON.stringify(ONNX_GRAPHS));
  return h.digest('hex').slice(0, 16);
}

/**
 * The ONNX export of `modelDir`: its own (`qlip-onnx.json` in the folder or in `onnx/`), else a cached one,
 * else exported now into `<cacheDir>/onnx/<name>-<key>/` (atomically: an interrupted export leaves
 * nothing). Nothing is ever written into the model's folder.
 */
export async function prepareOnnx(
  modelDir: string,
  opts: { cacheDir?: string; onProgress?: ProgressListener } = {},
): Promise<PreparedOnnx> {
  const progress = opts.onProgress ?? silentProgress;
  let own: string | null = null;
  try {
    own = resolveOnnxDir(modelDir);
  } catch {
    own = null;
  }
  if (own) return { dir: own, ...(await exportFiles(own)), origin: 'model' };
  if (!existsSync(join(modelDir, 'config.json'))) {
    throw new Error(
      `${modelDir}: neither an ONNX export (no ${ONNX_MANIFEST} here or in onnx/) nor a QLIP model folder (no config.json)`,
    );
  }
  const dir = join(
    opts.cacheDir ?? defaultCacheDir(),
    'onnx',
    `${basename(resolve(modelDir))}-${await cacheKey(modelDir)}`,
  );
  if (existsSync(join(dir, ONNX_MANIFEST))) return { dir, ...(await exportFiles(dir)), origin: 'cache' };
  const steps = 2;
  progress({ task: 'export', done: 0, total: steps, unit: 'steps', message: `loading ${modelDir}` });
  const model = await QLIPModel.load(modelDir);
  try {
    progress({
      task: 'export',
      done: 1,
      total: steps,
      unit: 'steps',
      message: `exporting ONNX graphs to ${dir}`,
    });
    await exportOnnx(model, dir, { overwrite: true });
  } finally {
    model.dispose();
  }
  progress({ task: 'export', done: steps, total: steps, unit: 'steps', message: `exported ${dir}` });
  return { dir, ...(await exportFiles(dir)), origin: 'exported' };
}
