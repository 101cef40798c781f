import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { listImages } from '@qlip/core';
import type { Sample, SampleSource, SourceContext } from '../types.js';
import { compareCodeUnits, requireDir } from './files.js';
import { epochOrder } from './folder.js';
import { captionFor, checkTemplates, DEFAULT_CLASS_TEMPLATES } from './templates.js';

export interface ClassFolderOptions {
  /** Prompt templates with a `{c}` placeholder; default `["a photo of a {c}."]`. */
  templates?: string[];
  /** Display name per directory name (e.g. ImageNet synsets); default: the directory name with `_` as spaces. */
  classNames?: Record<string, string>;
}

/** Class directories of a class-folder tree, sorted: label = index in this list. */
export async function listClassDirs(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(compareCodeUnits);
}

/**
 * `root/<class>/**\/img.png`: label = index of `<class>` among the sorted class directories, caption =
 * a prompt template filled with the class name (a random template per sample when shuffling, the first
 * one otherwise). Keys are paths relative to `root`.
 */
export async function classFolderSource(
  dir: string,
  options: ClassFolderOptions = {},
): Promise<SampleSource> {
  const root = path.resolve(dir);
  const what = 'class-folder source (root/<class>/<image>)';
  await requireDir(root, what);
  const templates = checkTemplates(options.templates ?? DEFAULT_CLASS_TEMPLATES, what);
  const classes = await listClassDirs(root);
  if (classes.length === 0) throw new Error(`${what}: no class directories under '${root}'`);
  // One sorted listing of the tree; images directly under the root belong to no class and are left out.
  const labelOf = new Map(classes.map((c, i) => [c, i]));
  const items: { rel: string; label: number }[] = [];
  for (const rel of await listImages(root)) {
    const slash = rel.indexOf('/');
    const label = slash > 0 ? labelOf.get(rel.slice(0, slash)) : undefined;
    if (label !== undefined) items.push({ rel, label });
  }
  if (items.length === 0) throw new Error(`${what}: no image files in the class directories under '${root}'`);
  const display = classes.map((c) => options.classNames?.[c] ?? c.replace(/_/g, ' '));
  return {
    name: `classFolder:${root}`,
    size: items.length,
    async *samples(ctx: SourceContext): AsyncGenerator<Sample> {
      for (const { rel, label } of epochOrder(items, ctx)) {
        ctx.seen();
        const file = path.join(root, rel);
        const className = display[label]!;
        yield {
          key: rel,
          caption: captionFor(templates, className, ctx.rng),
          label,
          className,
          source: file,
          image: () => readFile(file),
        };
      }
    },
  };
}

/** The class names of a class-folder tree in label order (for zero-shot classifiers). */
export async function classFolderClassNames(
  dir: string,
  options: ClassFolderOptions = {},
): Promise<string[]> {
  const classes = await listClassDirs(path.resolve(dir));
  return classes.map((c) => options.classNames?.[c] ?? c.replace(/_/g, ' '));
}
