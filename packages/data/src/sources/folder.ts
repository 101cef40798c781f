import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { listImages } from '@qlip/core';
import type { Sample, SampleSource, SourceContext } from '../types.js';
import { captionFromFilename, cleanCaption, requireDir } from './files.js';

export interface FolderSourceOptions {
  /** What to do when `a.jpg` has no (or an empty) `a.txt`: skip and count it, or use the file name. */
  missingCaption?: 'skip' | 'filename';
}

/** Order of `items` for one epoch: as listed, or shuffled with the epoch's rng. */
export function epochOrder<T>(items: readonly T[], ctx: SourceContext): T[] {
  const out = items.slice();
  if (ctx.rng !== null) ctx.rng.shuffle(out);
  return out;
}

/**
 * Images under `dir` (recursive) with sidecar captions: `x/a.jpg` is captioned by `x/a.txt`.
 * Keys are paths relative to `dir`.
 */
export async function folderSource(dir: string, options: FolderSourceOptions = {}): Promise<SampleSource> {
  const root = path.resolve(dir);
  const what = 'folder source (images with .txt captions)';
  await requireDir(root, what);
  // Sorted relative paths; throws naming the folder when it holds no images.
  const files = await listImages(root);
  const missing = options.missingCaption ?? 'skip';
  return {
    name: `folder:${root}`,
    size: files.length,
    async *samples(ctx: SourceContext): AsyncGenerator<Sample> {
      for (const rel of epochOrder(files, ctx)) {
        ctx.seen();
        const file = path.join(root, rel);
        const sidecar = `${file.slice(0, file.length - path.extname(file).length)}.txt`;
        let caption = cleanCaption(await readFile(sidecar, 'utf8').catch(() => ''));
        if (caption === '' && missing === 'filename') caption = captionFromFilename(rel);
        if (caption === '') {
          ctx.skip({
            key: rel,
            reason: 'missingCaption',
            source: file,
            detail: `no caption in '${sidecar}'`,
          });
          continue;
        }
        yield { key: rel, caption, source: file, image: () => readFile(file) };
      }
    },
  };
}
