import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ProgressListener, silentProgress } from '@qlip/core';
import { type PreparedOnnx, prepareOnnx, prepareUnifiedOnnx } from '@qlip/export';
import { bundledVocab } from '@qlip/text-encoder';
import { type ServedModel, startServer, type WebModelEntry } from './server.js';

/** The built page: $QLIP_WEB_DIR, else apps/web/dist of this workspace. */
export function defaultSiteDir(): string {
  if (process.env.QLIP_WEB_DIR) return resolve(process.env.QLIP_WEB_DIR);
  return fileURLToPath(new URL('../../../apps/web/dist/', import.meta.url)).replace(/\/$/, '');
}

/** The CLIP BPE merges the page's tokenizer reads (open_clip's bpe_simple_vocab_16e6 layout: header + merges). */
export async function writeClipMerges(path: string): Promise<void> {
  const { merges } = bundledVocab();
  await writeFile(path, `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
}

/**
 * Copy each model's ONNX export (exported into `cacheDir` first when missing) into `<siteDir>/models/<name>/`
 * and write `<siteDir>/models.json`, so the site works on any static host.
 */
export async function addSiteModels(
  siteDir: string,
  models: { dir: string; name?: string; zeroShot?: WebModelEntry['zeroShot']; kind?: 'unified' }[],
  opts: { cacheDir?: string; onProgress?: ProgressListener } = {},
): Promise<WebModelEntry[]> {
  const entries: WebModelEntry[] = [];
  for (const m of models) {
    const name = m.name ?? basename(resolve(m.dir));
    const onnx =
      m.kind === 'unified' ? await prepareUnifiedOnnx(m.dir, opts) : await prepareOnnx(m.dir, opts);
    const out = join(siteDir, 'models', name);
    await mkdir(out, { recursive: true });
    for (const f of onnx.files) await copyFile(join(onnx.dir, f), join(out, f));
    entries.push({
      name,
      path: `models/${name}/`,
      files: onnx.files,
      ...(m.zeroShot ? { zeroShot: m.zeroShot } : {}),
      ...(m.kind ? { kind: m.kind } : {}),
    });
  }
  await writeFile(join(siteDir, 'models.json'), `${JSON.stringify({ models: entries }, null, 2)}\n`);
  return entries;
}

export interface ServeOptions {
  /** Model folders (QLIP checkpoints or ONNX exports) to serve before the site's own models. */
  models: string[];
  /** Unified model folders (or unified ONNX exports) for the caption and generate panels. */
  unified?: string[];
  host: string;
  port: number;
  siteDir?: string;
  cacheDir?: string;
  onProgress?: ProgressListener;
}

export interface ServeResult {
  url: string;
  siteDir: string;
  models: { name: string; dir: string; origin: PreparedOnnx['origin']; kind?: 'unified' }[];
  close(): Promise<void>;
}

/**
 * `qlip serve`: check the built page is there, prepare each model's ONNX export (exporting it into the
 * cache when missing), then serve both with cross-origin isolation headers.
 */
export async function serveWeb(opts: ServeOptions): Promise<ServeResult> {
  const siteDir = opts.siteDir ?? defaultSiteDir();
  if (!existsSync(join(siteDir, 'index.html'))) {
    throw new Error(
      `${siteDir}: the web page is not built (no index.html): run "pnpm --filter @qlip/web build"`,
    );
  }
  const progress = opts.onProgress ?? silentProgress;
  const served: ServedModel[] = [];
  for (const [i, dir] of opts.models.entries()) {
    if (!existsSync(dir)) throw new Error(`${dir}: no such model folder`);
    const onnx = await prepareOnnx(dir, { cacheDir: opts.cacheDir, onProgress: progress });
    const name = basename(resolve(dir)) === 'onnx' ? basename(resolve(dir, '..')) : basename(resolve(dir));
    served.push({ id: `m${i}-${name.replace(/[^\w.-]/g, '_')}`, name, onnx });
  }
  for (const [i, dir] of (opts.unified ?? []).entries()) {
    if (!existsSync(dir)) throw new Error(`${dir}: no such unified model folder`);
    const onnx = await prepareUnifiedOnnx(dir, { cacheDir: opts.cacheDir, onProgress: progress });
    const name = basename(resolve(dir)) === 'onnx' ? basename(resolve(dir, '..')) : basename(resolve(dir));
    served.push({ id: `u${i}-${name.replace(/[^\w.-]/g, '_')}`, name, onnx, kind: 'unified' });
  }
  const server = await startServer({ siteDir, models: served, host: opts.host, port: opts.port });
  return {
    url: server.url,
    siteDir,
    models: served.map((m) => ({
      name: m.name,
      dir: m.onnx.dir,
      origin: m.onnx.origin,
      ...(m.kind ? { kind: m.kind } : {}),
    })),
    close: () => server.close(),
  };
}
