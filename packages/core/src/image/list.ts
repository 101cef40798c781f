import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

/**
 * Raster formats a dataset folder may hold, by sharp format id. Vector (svg) and libvips' own formats
 * are left out on purpose; bmp is absent because sharp's prebuilt libvips cannot read it.
 */
const RASTER_FORMATS = ['jpeg', 'png', 'webp', 'heif', 'tiff', 'gif'] as const;

/**
 * Lower-case file suffixes (with the dot) that {@link listImages} accepts: those of the raster formats
 * that this sharp build can read from a file (`sharp.format[id].input.file`).
 */
export function imageExtensions(): string[] {
  const out: string[] = [];
  for (const id of RASTER_FORMATS) {
    const f = (
      sharp.format as unknown as Record<
        string,
        { input: { file: boolean; fileSuffix?: string[] } } | undefined
      >
    )[id];
    if (f?.input.file) out.push(...(f.input.fileSuffix ?? []).map((s) => s.toLowerCase()));
  }
  return [...new Set(out)].sort();
}

export interface ListImagesOptions {
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
}

function hasImageSuffix(name: string, suffixes: readonly string[]): boolean {
  const lower = name.toLowerCase();
  return suffixes.some((s) => lower.endsWith(s));
}

/**
 * Image files under `dir`, as sorted relative paths with `/` separators (sorted by code unit, so the
 * order is the same on every platform and locale). Extensions are matched case-insensitively against
 * {@link imageExtensions}. Hidden entries (names starting with `.`) are skipped, files included, which
 * also drops macOS `._photo.jpg` resource forks. Symlinked files are followed; symlinked folders are not
 * (no cycles).
 *
 * @throws Error naming `dir` when it is missing, not a folder, or holds no image files.
 */
export async function listImages(dir: string, opts: ListImagesOptions = {}): Promise<string[]> {
  const recursive = opts.recursive ?? true;
  const suffixes = imageExtensions();
  let info: Stats;
  try {
    info = await stat(dir);
  } catch (err) {
    throw new Error(
      `Image folder ${dir} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (!info.isDirectory()) throw new Error(`Image folder ${dir} is not a directory`);

  const found: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (recursive) await walk(relPath);
      } else if (hasImageSuffix(e.name, suffixes)) {
        if (
          e.isFile() ||
          (e.isSymbolicLink() && (await stat(join(dir, relPath)).catch(() => undefined))?.isFile())
        ) {
          found.push(relPath);
        }
      }
    }
  };
  await walk('');
  if (found.length === 0) {
    throw new Error(
      `Image folder ${dir} holds no image files${recursive ? ' (searched recursively)' : ''}; ` +
        `accepted extensions: ${suffixes.join(' ')}`,
    );
  }
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
