import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { listImages, type RgbImage } from '@qlip/core';
import {
  classFolderSource,
  DEFAULT_CLASS_TEMPLATES,
  EMOJI_TEMPLATES,
  listClassDirs,
  loadEmojiEntries,
  MNIST_CLASS_NAMES,
  MNIST_TEMPLATES,
  manifestFormat,
  mnistSource,
  emojiSource,
  parseManifest,
  type SampleSource,
} from '@qlip/data';

/** One image of an evaluation set; pixels are read lazily. */
export interface EvalItem {
  /** Unique within the set: a relative path, `mnist/test/00042`, `<manifest>:<line>`. */
  key: string;
  /** The file (or built-in) it comes from, for messages. */
  source: string;
  /** Class index when the set has labels. */
  label?: number;
  image: () => Promise<Buffer | RgbImage>;
}

export type EvalDataKind = 'builtin' | 'classFolder' | 'imageFolder' | 'manifest';

/** An evaluation set: its images (in a fixed order) and, for labelled sets, the class names. */
export interface EvalDataset {
  /** What `--data` said. */
  spec: string;
  kind: EvalDataKind;
  /** Short description for reports, e.g. `builtin:mnist/test`. */
  name: string;
  items: EvalItem[];
  /** Class names in label order (labelled sets only). */
  classNames?: string[];
  /** The built-in's own caption templates (what `--templates dataset` uses). */
  templates: string[];
}

export interface ResolveDataOptions {
  /** Labels are required (zero-shot): unlabelled image folders and label-less manifests are refused. */
  labels: boolean;
  /** Split of the built-in `mnist` when the spec does not name one (default `test`). */
  split?: 'train' | 'test';
}

const BUILTINS = ['mnist', 'emoji'];

/** Every sample of a source in its natural (sorted) order; drops reported by the source are returned. */
async function drain(src: SampleSource): Promise<{ items: EvalItem[]; dropped: string[] }> {
  const items: EvalItem[] = [];
  const dropped: string[] = [];
  const ctx = {
    rng: null,
    seen: () => {},
    skip: (e: { key: string; detail: string }) => dropped.push(`${e.key}: ${e.detail}`),
  };
  for await (const s of src.samples(ctx)) {
    const it: EvalItem = { key: s.key, source: s.source, image: s.image };
    if (s.label !== undefined) it.label = s.label;
    items.push(it);
  }
  return { items, dropped };
}

/** A tokenized dataset (`qlip tokenize` output) holds tokens, not images: say so, with its resolution. */
function refuseTokenDataset(dir: string): never {
  let detail = '';
  try {
    const meta = JSON.parse(require_text(path.join(dir, 'meta.json'))) as {
      bits?: number;
      grid?: number[];
      imageSize?: number;
    };
    detail = ` (${meta.bits}-bit tokens on a ${meta.grid?.join('x')} grid, made at ${meta.imageSize} px)`;
  } catch {
    // The refusal stands without the details.
  }
  throw new Error(
    `${dir}: this is a tokenized dataset${detail}, not images; evaluation needs the original images ` +
      `(the model re-encodes them at its own resolution). Point --data at the image folder it was made from.`,
  );
}

function require_text(file: string): string {
  // Small synchronous read: meta.json is a few hundred bytes and only read on the error path.
  return require_fs().readFileSync(file, 'utf8');
}

function require_fs(): typeof import('node:fs') {
  return { readFileSync: (f: string, e: 'utf8') => readFileSyncImpl(f, e) } as typeof import('node:fs');
}

import { readFileSync as readFileSyncImpl } from 'node:fs';

/**
 * Resolve `--data`: `mnist` / `mnist:train` / `mnist:test` / `emoji` (built-ins), a `.jsonl`/`.csv`/`.tsv`
 * manifest (`image` and integer `label` columns), a class-folder tree `root/<class>/<images>` (labels =
 * sorted directory names), or -- when labels are not needed -- any folder of images (searched recursively).
 */
export async function resolveEvalData(spec: string, opts: ResolveDataOptions): Promise<EvalDataset> {
  const [base, splitArg] = spec.split(':') as [string, string | undefined];
  if (BUILTINS.includes(base) && !existsSync(spec)) return builtin(spec, base, splitArg, opts);
  if (!existsSync(spec)) {
    throw new Error(
      `--data ${spec}: no such file or folder (expected a folder of images, a class-folder tree, a .jsonl/.csv/.tsv manifest, or a built-in: ${BUILTINS.join(', ')})`,
    );
  }
  const abs = path.resolve(spec);
  if (statSync(abs).isFile()) return manifest(spec, abs, opts);
  if (existsSync(path.join(abs, 'meta.json')) && existsSync(path.join(abs, 'index.jsonl')))
    refuseTokenDataset(abs);
  const classDirs = await listClassDirs(abs);
  if (opts.labels) {
    if (classDirs.length === 0) {
      throw new Error(
        `${abs}: no class directories (zero-shot needs a class-folder tree root/<class>/<images>, a manifest with labels, or a built-in)`,
      );
    }
    const src = await classFolderSource(abs);
    const { items } = await drain(src);
    const classNames = classDirs.map((c) => c.replace(/_/g, ' '));
    return {
      spec,
      kind: 'classFolder',
      name: src.name,
      items,
      classNames,
      templates: DEFAULT_CLASS_TEMPLATES,
    };
  }
  let files: string[];
  try {
    files = await listImages(abs);
  } catch (err) {
    throw new Error(`--data ${spec}: ${(err as Error).message}`);
  }
  const items = files.map((rel) => {
    const file = path.join(abs, rel);
    return { key: rel, source: file, image: () => readFile(file) };
  });
  return { spec, kind: 'imageFolder', name: `folder:${abs}`, items, templates: DEFAULT_CLASS_TEMPLATES };
}

async function builtin(
  spec: string,
  name: string,
  splitArg: string | undefined,
  opts: ResolveDataOptions,
): Promise<EvalDataset> {
  if (name === 'mnist') {
    const split = splitArg ?? opts.split ?? 'test';
    if (split !== 'train' && split !== 'test')
      throw new Error(`--data ${spec}: MNIST has the splits 'train' and 'test', not '${split}'`);
    const src = await mnistSource({ split });
    const { items } = await drain(src);
    return {
      spec,
      kind: 'builtin',
      name: src.name,
      items,
      classNames: [...MNIST_CLASS_NAMES],
      templates: MNIST_TEMPLATES,
    };
  }
  if (splitArg !== undefined && splitArg !== 'train')
    throw new Error(`--data ${spec}: the emoji built-in has one split, 'train'`);
  const src = await emojiSource();
  const { items } = await drain(src);
  const { categories } = await loadEmojiEntries();
  return { spec, kind: 'builtin', name: src.name, items, classNames: categories, templates: EMOJI_TEMPLATES };
}

async function manifest(spec: string, abs: string, opts: ResolveDataOptions): Promise<EvalDataset> {
  const rows = parseManifest(await readFile(abs, 'utf8'), abs, manifestFormat(abs));
  const base = path.basename(abs);
  if (opts.labels) {
    const missing = rows.find((r) => r.label === undefined);
    if (missing)
      throw new Error(
        `manifest '${abs}' line ${missing.line}: no 'label' (zero-shot needs an integer class label on every row)`,
      );
  }
  const items = rows.map((r) => {
    const it: EvalItem = { key: `${base}:${r.line}`, source: r.image, image: () => readFile(r.image) };
    if (r.label !== undefined) it.label = r.label;
    return it;
  });
  return { spec, kind: 'manifest', name: `manifest:${abs}`, items, templates: DEFAULT_CLASS_TEMPLATES };
}

/**
 * Class names from a file: one per line in label order (blank lines and `#` comments ignored), or a
 * JSON array of names. For a class-folder tree, line i names the i-th directory in sorted order.
 */
export async function readClassNamesFile(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new Error(`class names file '${file}' could not be read: ${e.message}`);
  });
  let names: string[];
  if (file.toLowerCase().endsWith('.json')) {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      throw new Error(`class names file '${file}': expected a JSON array of strings`);
    names = v as string[];
  } else {
    names = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l.length > 0 && !l.startsWith('#'));
  }
  if (names.length === 0) throw new Error(`class names file '${file}' has no class names (one per line)`);
  return names;
}

/**
 * `limit` items spread evenly over the set (positions floor(i * n / limit)), so a quick run on a
 * class-sorted tree or a category-sorted built-in still meets every class.
 */
export function evenlySpaced<T>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return [...items];
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error(`limit must be a positive integer, got ${limit}`);
  return Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]!);
}
