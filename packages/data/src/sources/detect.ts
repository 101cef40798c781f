import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { listImages } from '@qlip/core';
import { compareCodeUnits } from './files.js';

/** What `detectSource` found: a `data.source` config object and a one-line account of why. */
export interface DetectedSource {
  /** A complete `data.source` (`kind` set), with absolute paths. */
  source: Record<string, unknown>;
  /** e.g. "folder with .txt captions (12 images, 12 captions)". */
  description: string;
  /** Usable samples found, when the source was listed (folders), so a caller can compare with its batch. */
  samples?: number;
}

export interface DetectSourceOptions {
  /** Directory a relative spec is resolved against (default: the process's working directory). */
  baseDir?: string;
  /** Prompt templates (`{c}` = class name) for a class-folder tree or a built-in dataset. */
  captionTemplates?: string[];
}

const MANIFEST_EXTS = ['.jsonl', '.ndjson', '.csv', '.tsv'];
const isUrl = (s: string) => /^https?:\/\//i.test(s);
const isBracePattern = (s: string) => /\{[^{}]*\.\.[^{}]*\}/.test(s);

/**
 * Pick the data source a command-line `--data` value names:
 * - `mnist`, `emoji` (or `mnist:test`): a built-in dataset, unless a file or folder of that name exists;
 * - `x.jsonl` / `x.csv` / `x.tsv`: a manifest of `{image, caption[, label]}` rows;
 * - `x.tar`, `shards/{00000..00099}.tar`, or an http(s) URL of either: WebDataset shards;
 * - a folder: images with `.txt` sidecar captions (`a.jpg` + `a.txt`), or else a class-folder tree
 *   (`root/<class>/<image>`, captions from prompt templates); a folder holding only `.tar` files is
 *   read as its shards in name order.
 * Throws a message naming the path and what it expected when none fits.
 */
export async function detectSource(
  spec: string,
  options: DetectSourceOptions & { builtins: readonly string[] },
): Promise<DetectedSource> {
  const templates = options.captionTemplates?.length ? options.captionTemplates : undefined;
  const abs = isUrl(spec) ? spec : path.resolve(options.baseDir ?? process.cwd(), spec);
  const ext = path.extname(spec.replace(/[?#].*$/, '')).toLowerCase();
  const info = isUrl(spec) || isBracePattern(spec) ? null : await stat(abs).catch(() => null);
  const onlyFor = (kind: string) => {
    if (templates)
      throw new Error(
        `--caption-template applies to class folders and built-in datasets, not to ${kind} '${spec}'`,
      );
  };

  if (!info && !isUrl(spec) && !isBracePattern(spec)) {
    const [name, split] = spec.split(':');
    if (name && options.builtins.includes(name)) {
      const source: Record<string, unknown> = { kind: 'builtin', name, ...(split ? { split } : {}) };
      if (templates) source.templates = templates;
      return { source, description: `built-in dataset '${name}'${split ? ` (${split} split)` : ''}` };
    }
    throw new Error(
      `--data '${spec}': no such file or folder (resolved to '${abs}'), and not a built-in dataset (${options.builtins.join(', ')})`,
    );
  }
  if (MANIFEST_EXTS.includes(ext)) {
    onlyFor('a manifest');
    if (isUrl(spec)) throw new Error(`--data '${spec}': manifests are read from disk; download it first`);
    return { source: { kind: 'manifest', path: abs }, description: `${ext.slice(1)} manifest` };
  }
  if (ext === '.tar' || isBracePattern(spec)) {
    onlyFor('WebDataset shards');
    return { source: { kind: 'webdataset', shards: abs }, description: 'WebDataset shards' };
  }
  if (isUrl(spec))
    throw new Error(`--data '${spec}': a URL must name WebDataset shards (.tar, or a brace pattern of them)`);
  if (info?.isDirectory()) return detectFolder(abs, spec, templates);
  throw new Error(
    `--data '${spec}': cannot tell the data source from '${ext || 'no extension'}' (expected a folder, .jsonl/.csv/.tsv, .tar, a brace pattern or ${options.builtins.join('/')})`,
  );
}

/** Sidecar captions, class folders or shards inside a folder. */
async function detectFolder(dir: string, spec: string, templates?: string[]): Promise<DetectedSource> {
  const files = (await readdir(dir, { recursive: true })).map((f) => f.split(path.sep).join('/'));
  const visible = files.filter((f) => !f.split('/').some((part) => part.startsWith('.')));
  const images = await listImages(dir).catch(() => [] as string[]);
  if (images.length === 0) {
    const tars = visible
      .filter((f) => f.toLowerCase().endsWith('.tar') && !f.includes('/'))
      .sort(compareCodeUnits);
    if (tars.length > 0 && !templates) {
      return {
        source: { kind: 'webdataset', shards: tars.map((t) => path.join(dir, t)) },
        description: `WebDataset shards (${tars.length} .tar files in the folder)`,
      };
    }
    throw new Error(`--data '${spec}': no image files (PNG, JPEG, WebP, AVIF, TIFF, GIF) under '${dir}'`);
  }
  const texts = new Set(visible.filter((f) => f.toLowerCase().endsWith('.txt')));
  const captioned = images.filter((f) => texts.has(`${f.slice(0, f.length - path.extname(f).length)}.txt`));
  const loose = images.filter((f) => !f.includes('/'));
  const classes = new Set(images.filter((f) => f.includes('/')).map((f) => f.slice(0, f.indexOf('/'))));
  if (templates || captioned.length === 0) {
    if (loose.length === 0 && classes.size > 0) {
      const source: Record<string, unknown> = { kind: 'classFolder', path: dir };
      if (templates) source.templates = templates;
      return {
        source,
        samples: images.length,
        description: `class folders (${classes.size} classes, ${images.length} images; captions from ${templates ? '--caption-template' : 'the template "a photo of a {c}."'})`,
      };
    }
    if (templates)
      throw new Error(
        `--data '${spec}': --caption-template needs a class-folder tree (DIR/<class>/<image>), but ${loose.length} image(s) sit directly in '${dir}' (e.g. '${loose[0]}')`,
      );
    throw new Error(
      `--data '${spec}': found ${images.length} image(s) but no captions: put each caption in a .txt file beside its image ` +
        `(cat.jpg + cat.txt), or sort the images into class folders (DIR/<class>/<image>) and use --caption-template, or give a .jsonl/.csv manifest`,
    );
  }
  const missing = images.length - captioned.length;
  return {
    source: { kind: 'folder', path: dir },
    samples: captioned.length,
    description:
      `folder with .txt captions (${images.length} images, ${captioned.length} captioned` +
      `${missing > 0 ? `; the ${missing} without a caption are skipped` : ''})`,
  };
}
