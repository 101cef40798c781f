import type { Stats } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/**
 * Reading input files safely: only regular files (a FIFO named config.json or photo.png must not hang the
 * process, a device must not be read forever), and never more than a byte cap per file, checked from the
 * file's size before a single byte of its body is read.
 */

/** Default byte cap per input file (`--max-file-bytes`): far above any real image, far below a sparse 1 GB trap. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 2 ** 20;

/** Why an input file was refused; callers that skip inputs count by this. */
export type FileFault = 'notRegular' | 'tooLarge' | 'unreadable' | 'undecodable' | 'tooManyPixels';

/** The fault of an error thrown while reading or decoding an input (`undecodable` for anything else). */
export function faultOf(err: unknown): FileFault {
  return err instanceof InputFileError ? err.fault : 'undecodable';
}

/** An input file refused before (or while) reading; `fault` says why. */
export class InputFileError extends Error {
  constructor(
    message: string,
    readonly fault: FileFault,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InputFileError';
  }
}

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

export interface ReadFileOptions {
  /** Refuse files larger than this (default {@link DEFAULT_MAX_FILE_BYTES}). */
  maxBytes?: number;
  /** What the file is, for messages (e.g. "QLIP config"). */
  what?: string;
}

/**
 * Open `path` for reading without blocking on a FIFO, and check it is a regular file of at most
 * `maxBytes`. Returns the open handle and its size; the caller closes it.
 */
export async function openRegularFile(
  path: string,
  opts: ReadFileOptions = {},
): Promise<{ fh: FileHandle; size: number }> {
  const what = opts.what ? `${opts.what} ` : '';
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new InputFileError(`${path}: cannot read ${what}file: ${(err as Error).message}`, 'unreadable', {
      cause: err,
    });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile())
      throw new InputFileError(
        `${path}: ${what}is ${fileKind(st)}, not a regular file; refusing to read it`,
        'notRegular',
      );
    if (st.size > maxBytes)
      throw new InputFileError(
        `${path}: ${what}file is ${st.size} bytes, over the limit of ${maxBytes} bytes per file (raise --max-file-bytes to allow it)`,
        'tooLarge',
      );
    return { fh, size: st.size };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Read exactly `size` bytes from the start of an open file (a file that shrank meanwhile is an error). */
export async function readOpenFile(fh: FileHandle, size: number, path: string): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await fh.read(buf, done, size - done, done);
    if (bytesRead === 0)
      throw new InputFileError(
        `${path}: file ended after ${done} of ${size} bytes (changed while read)`,
        'unreadable',
      );
    done += bytesRead;
  }
  return buf;
}

/** Read a regular file of at most `maxBytes` (see {@link openRegularFile}); errors are {@link InputFileError}s. */
export async function readRegularFile(path: string, opts: ReadFileOptions = {}): Promise<Buffer> {
  const { fh, size } = await openRegularFile(path, opts);
  try {
    return await readOpenFile(fh, size, path);
  } finally {
    await fh.close();
  }
}
