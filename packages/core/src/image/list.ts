import type { Dirent, Stats } from 'node:fs';
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
  /**
   * Told about every entry left out that a user may have meant as input: a sub-folder that cannot be read
   * (`unreadableFolder`), an image-named symlink whose target is missing (`danglingSymlink`) or loops
   * (`symlinkLoop`), an image-named entry that is not a regular file (`notRegular`: FIFO, socket, device),
   * a symlinked folder (`symlinkedFolder`, not followed). Without it they are still left out.
   */
  onSkip?: (skip: ListSkip) => void;
}

/** Why {@link listImages} left an entry out. */
export type ListSkipReason =
  | 'unreadableFolder'
  | 'danglingSymlink'
  | 'symlinkLoop'
  | 'notRegular'
  | 'symlinkedFolder';

export interface ListSkip {
  /** Relative path with `/` separators. */
  path: string;
  reason: ListSkipReason;
  detail: string;
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
 * (no cycles). Sub-folders that cannot be read, broken or looping symlinks and non-regular files are left
 * out and reported through `opts.onSkip`.
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
  const skip = (path: string, reason: ListSkipReason, detail: string) =>
    opts.onSkip?.({ path, reason, detail });
  const walk = async (rel: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(join(dir, rel), { withFileTypes: true });
    } catch (err) {
      // The top folder was checked above: a sub-folder that cannot be read is skipped, not fatal.
      if (rel === '') throw err;
      skip(rel, 'unreadableFolder', (err as NodeJS.ErrnoException).code ?? (err as Error).message);
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (recursive) await walk(relPath);
      } else if (e.isSymbolicLink()) {
        await classifySymlink(relPath, e.name);
      } else if (hasImageSuffix(e.name, suffixes)) {
        if (e.isFile()) found.push(relPath);
        else skip(relPath, 'notRegular', 'not a regular file (FIFO, socket or device)');
      }
    }
  };
  const classifySymlink = async (relPath: string, name: string): Promise<void> => {
    let st: Stats;
    try {
      st = await stat(join(dir, relPath));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') skip(relPath, 'symlinkLoop', 'symlink loops (ELOOP)');
      else if (hasImageSuffix(name, suffixes))
        skip(relPath, 'danglingSymlink', `symlink target missing (${code ?? (err as Error).message})`);
      return;
    }
    if (st.isDirectory()) {
      if (recursive) skip(relPath, 'symlinkedFolder', 'symlinked folders are not followed');
    } else if (hasImageSuffix(name, suffixes)) {
      if (st.isFile()) found.push(relPath);
      else skip(relPath, 'notRegular', 'symlink to something that is not a regular file');
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
