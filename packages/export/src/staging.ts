import { mkdir, mkdtemp, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { acquireOutputLock, OUTPUT_LOCK_FILE } from '@qlip/core';

/** One file an export wrote, as reported to callers (and by `--json`). */
export interface WrittenFile {
  /** File name inside the output directory. */
  name: string;
  /** Full path. */
  path: string;
  bytes: number;
}

/** What an export may do to its output folder. */
export interface OutputPolicy {
  /** Replace files in a non-empty output folder (otherwise a non-empty folder is refused). */
  overwrite?: boolean;
  /**
   * The model folder the export reads: writing into it is refused (an export must never replace the
   * checkpoint it reads). `allowSubfolder` permits a sub-folder of it (ONNX graphs at `<model>/onnx`).
   */
  source?: { dir: string; allowSubfolder?: boolean };
  /** Recorded in the output lock (e.g. "qlip export onnx"). */
  command?: string;
}

const STAGE_PREFIX = '.qlip-export-';

/** The real path of `p`, or of its nearest existing ancestor joined with the rest (for folders not yet made). */
async function realish(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = resolve(abs, '..');
    if (parent === abs) return abs;
    return join(await realish(parent), relative(parent, abs));
  }
}

/** Refuse an output folder that is the source model folder or (unless allowed) inside it. */
async function checkNotSource(outDir: string, policy: OutputPolicy): Promise<void> {
  if (!policy.source) return;
  const out = await realish(outDir);
  const src = await realish(policy.source.dir);
  const rel = relative(src, out);
  const inside = rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
  if (rel === '') {
    throw new Error(
      `${outDir}: the output folder is the model folder ${policy.source.dir}; an export never writes into the checkpoint it reads. Choose another --out.`,
    );
  }
  if (inside && !policy.source.allowSubfolder) {
    throw new Error(
      `${outDir}: the output folder is inside the model folder ${policy.source.dir}; an export never writes into the checkpoint it reads. Choose another --out.`,
    );
  }
}

/**
 * Write an export's files into a hidden staging folder inside `outDir`, then move each into place with
 * `rename` (atomic on one file system). If `write` throws, the staging folder is deleted and nothing in
 * `outDir` changed: no partial file is ever visible under a final name.
 *
 * The folder is locked for the whole export (a second export into it is refused, naming this one); a
 * non-empty folder is refused unless `policy.overwrite`, and the source model folder is never written.
 * @param write fills the staging folder and returns the file names it wrote (moved in that order)
 */
export async function writeStaged<T>(
  outDir: string,
  write: (stageDir: string) => Promise<{ files: string[]; result: T }>,
  policy: OutputPolicy = {},
): Promise<{ files: WrittenFile[]; result: T }> {
  await checkNotSource(outDir, policy);
  try {
    await mkdir(outDir, { recursive: true });
  } catch (err) {
    throw new Error(`${outDir}: cannot create the output directory: ${(err as Error).message}`);
  }
  let lock: Awaited<ReturnType<typeof acquireOutputLock>>;
  try {
    lock = await acquireOutputLock(outDir, policy.command ?? 'qlip export');
  } catch (err) {
    if ((err as Error).name === 'OutputLockedError') throw err;
    throw new Error(`${outDir}: output directory is not writable: ${(err as Error).message}`);
  }
  try {
    // Holding the lock, any staging folder here was left by a crashed export: remove it.
    const entries = await readdir(outDir);
    for (const e of entries.filter((f) => f.startsWith(STAGE_PREFIX)))
      await rm(join(outDir, e), { recursive: true, force: true });
    const existing = entries.filter((f) => f !== OUTPUT_LOCK_FILE && !f.startsWith(STAGE_PREFIX));
    if (existing.length && !policy.overwrite) {
      const shown =
        existing.slice(0, 5).join(', ') + (existing.length > 5 ? `, ... (${existing.length} entries)` : '');
      throw new Error(
        `${outDir}: the output folder is not empty (${shown}); pass --overwrite to replace the export's files there, or choose an empty --out`,
      );
    }
    const stage = await mkdtemp(join(outDir, STAGE_PREFIX));
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
  } finally {
    await lock.release();
  }
}
