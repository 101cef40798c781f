import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Durable file writes shared by every writer (npy shards, safetensors, ONNX external data, PNGs, JSON):
 * every byte is checked as written (a short write on a full disk is retried and then fails, it is never
 * taken for success), the file's size is checked after fsync, and a file reaches its final name only by a
 * rename after all of that, followed by an fsync of the folder so the rename itself survives a power cut.
 */

/** What the writers need of an open file (a `FileHandle`); tests substitute a size-capped one. */
export interface WriteHandle {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** Opens a file for writing (`flags` as for `fs.open`). */
export type WriteOpener = (path: string, flags: 'w' | 'wx' | 'a' | 'r+') => Promise<WriteHandle>;

const defaultOpener: WriteOpener = (path, flags) => open(path, flags);
let opener: WriteOpener = defaultOpener;

/**
 * Replace how every qlip writer opens files, e.g. by a size-capped opener that simulates a full disk in
 * tests. Returns a function that restores the previous opener.
 */
export function setWriteOpener(o: WriteOpener): () => void {
  const previous = opener;
  opener = o;
  return () => {
    opener = previous;
  };
}

/**
 * An opener for a disk with `capacity` bytes free, shared by every file opened through it: a write that
 * crosses the limit writes what fits and reports the short count, the next one fails with ENOSPC, as a
 * real full disk does. For fault tests (`setWriteOpener(cappedWriteOpener(n))`) of every writer.
 */
export function cappedWriteOpener(capacity: number): WriteOpener {
  let free = capacity;
  return async (path, flags) => {
    const fh = await open(path, flags);
    return {
      async write(buffer, offset, length, position) {
        const n = Math.min(length, free);
        if (n <= 0) {
          const err = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
          err.code = 'ENOSPC';
          throw err;
        }
        free -= n;
        return fh.write(buffer, offset, n, position);
      },
      sync: () => fh.sync(),
      stat: () => fh.stat(),
      close: () => fh.close(),
    };
  };
}

/** Open `path` for writing through the current opener. */
export function openForWrite(path: string, flags: 'w' | 'wx' | 'a' | 'r+'): Promise<WriteHandle> {
  return opener(path, flags);
}

const CHUNK = 1 << 28;

/**
 * Write all of `bytes` at `position` (null: at the file position), retrying short writes; a write that
 * makes no progress (a full disk) fails with an error naming `path` and how far it got.
 */
export async function writeAll(
  fh: WriteHandle,
  bytes: Uint8Array,
  position: number | null,
  path: string,
): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const len = Math.min(CHUNK, bytes.length - done);
    let written: number;
    try {
      ({ bytesWritten: written } = await fh.write(
        bytes,
        done,
        len,
        position === null ? null : position + done,
      ));
    } catch (err) {
      throw new Error(
        `${path}: write failed after ${done} of ${bytes.length} bytes: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (written <= 0)
      throw new Error(
        `${path}: write failed after ${done} of ${bytes.length} bytes: no progress (no space left on the device?)`,
      );
    done += written;
  }
}

/** fsync, then check the file holds exactly `expectedBytes` (a disk that lied about a write is caught here). */
export async function syncAndCheckSize(fh: WriteHandle, path: string, expectedBytes: number): Promise<void> {
  await fh.sync();
  const { size } = await fh.stat();
  if (size !== expectedBytes)
    throw new Error(
      `${path}: file holds ${size} bytes after writing, expected ${expectedBytes} (disk full?)`,
    );
}

/** fsync a folder so a rename or a new file in it is durable (skipped where folders cannot be opened). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms and file systems refuse to fsync a directory; the rename is still atomic.
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** A temp name beside `path`, unique to this process and call. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write `parts` to `path` (created or truncated) with every byte and the final size checked, then fsync. */
export async function writeFileSynced(
  path: string,
  parts: readonly (Uint8Array | string)[],
  flags: 'w' | 'wx' = 'w',
): Promise<void> {
  const fh = await openForWrite(path, flags);
  try {
    let total = 0;
    for (const p of parts) {
      const bytes = typeof p === 'string' ? Buffer.from(p) : p;
      await writeAll(fh, bytes, total, path);
      total += bytes.length;
    }
    await syncAndCheckSize(fh, path, total);
  } finally {
    await fh.close().catch(() => {});
  }
}

/**
 * Write `parts` to `path` atomically and durably: a temp file beside it (every byte and the size checked,
 * fsynced), renamed over `path`, folder fsynced. On any failure the temp file is removed and `path` is
 * untouched.
 */
export async function writeFileAtomic(path: string, parts: readonly (Uint8Array | string)[]): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeFileSynced(tmp, parts, 'wx');
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    const msg = (err as Error).message.replace(tmp, path);
    throw new Error(msg.startsWith(path) ? msg : `${path}: ${msg}`, { cause: err });
  }
  await fsyncDir(dirname(path));
}
