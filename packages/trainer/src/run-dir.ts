import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireOutputLock, OUTPUT_LOCK_FILE, type OutputLock } from '@qlip/core';
import { isStepDirName } from './checkpoint.js';

/**
 * The run folder's safety, before any training writes to it: an exclusive lock (two runs never write one
 * folder), a refusal to write into a non-empty folder unless the run resumes or `overwrite` was asked,
 * and the removal of the temp checkpoint folders (`.step-NNNNNN.tmp-PID`) a crash left behind.
 */

export interface OpenRunDirectoryOptions {
  /** The run continues from a checkpoint: an existing run folder is expected. */
  resume: boolean;
  /** Replace the run in a non-empty folder (its checkpoints, `latest` and metrics.jsonl are deleted). */
  overwrite?: boolean;
  /** Recorded in the lock file (e.g. "qlip train"). */
  command: string;
  /** Notes for the user (stale lock taken over, debris removed, run replaced). */
  onNote?: (message: string) => void;
}

/** Names in a run folder that a run writes (and `overwrite` may delete). */
function isRunEntry(name: string): boolean {
  return (
    isStepDirName(name) ||
    isTempCheckpoint(name) ||
    name === 'latest' ||
    name === 'latest.tmp' ||
    name === 'metrics.jsonl'
  );
}

/** A checkpoint being assembled (`saveCheckpoint`'s temp folder). */
function isTempCheckpoint(name: string): boolean {
  return /^\.step-\d{6,}\.tmp-\d+$/.test(name);
}

/**
 * Lock `out` for this run (created if missing) and make it safe to write: refuse a non-empty folder
 * unless `resume` or `overwrite`, clear our own files on `overwrite`, remove crash debris. Release the
 * returned lock when the run ends (also released at process exit).
 */
export async function openRunDirectory(out: string, opts: OpenRunDirectoryOptions): Promise<OutputLock> {
  const note = opts.onNote ?? (() => {});
  const lock = await acquireOutputLock(out, opts.command, { onNote: note });
  try {
    const entries = (await readdir(out)).filter((name) => name !== OUTPUT_LOCK_FILE);
    if (entries.length && !opts.resume && !opts.overwrite) {
      const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? ', ...' : '');
      throw new Error(
        `${out} is not empty (${shown}): continue the run there with --resume ${out}, replace it with --overwrite, or choose another --out`,
      );
    }
    const remove =
      opts.overwrite && !opts.resume ? entries.filter(isRunEntry) : entries.filter(isTempCheckpoint);
    for (const name of remove) await rm(join(out, name), { recursive: true, force: true });
    const debris = remove.filter(isTempCheckpoint);
    if (debris.length)
      note(`removed ${debris.length} unfinished checkpoint folder(s) left by a crash: ${debris.join(', ')}`);
    if (remove.length > debris.length)
      note(`--overwrite: removed the previous run in ${out} (${remove.length - debris.length} entries)`);
    return lock;
  } catch (err) {
    await lock.release();
    throw err;
  }
}
