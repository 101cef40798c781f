import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One file an export wrote, as reported to callers (and by `--json`). */
export interface WrittenFile {
  /** File name inside the output directory. */
  name: string;
  /** Full path. */
  path: string;
  bytes: number;
}

/**
 * Write an export's files into a hidden staging folder inside `outDir`, then move each into place with
 * `rename` (atomic on one file system). If `write` throws, the staging folder is deleted and nothing in
 * `outDir` changed: no partial file is ever visible under a final name.
 * @param write fills the staging folder and returns the file names it wrote (moved in that order)
 */
export async function writeStaged<T>(
  outDir: string,
  write: (stageDir: string) => Promise<{ files: string[]; result: T }>,
): Promise<{ files: WrittenFile[]; result: T }> {
  try {
    await mkdir(outDir, { recursive: true });
  } catch (err) {
    throw new Error(`${outDir}: cannot create the output directory: ${(err as Error).message}`);
  }
  let stage: string;
  try {
    stage = await mkdtemp(join(outDir, '.qlip-export-'));
  } catch (err) {
    throw new Error(`${outDir}: output directory is not writable: ${(err as Error).message}`);
  }
  try {
    const { files, result } = await write(stage);
    const written: WrittenFile[] = [];
    for (const name of files) {
      const path = join(outDir, name);
      await rename(join(stage, name), path);
      written.push({ name, path, bytes: (await stat(path)).size });
    }
    return { files: written, result };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
