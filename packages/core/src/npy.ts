import { open, readFile } from 'node:fs/promises';
import { writeFileAtomic } from './durable.js';

import {
  checkNpyArray,
  DESCR,
  ITEM,
  type NpyArray,
  type NpyData,
  type NpyDtype,
  npyHeaderBytes,
} from './npy-bytes.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** The .npy header bytes for a C-order array (padded with spaces so data starts on a 64-byte boundary). */
export function npyHeader(dtype: NpyDtype, shape: number[]): Buffer {
  const h = npyHeaderBytes(dtype, shape);
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength);
}

/**
 * Write an array atomically and durably (temp file, bytes and size checked, fsync, rename): a crash or a
 * full disk never leaves a half-written .npy under `path`.
 */
export async function writeNpy(path: string, arr: NpyArray): Promise<void> {
  checkNpyArray(arr, path);
  // Every byte checked, fsynced, then renamed: a full disk fails here instead of leaving a short shard.
  await writeFileAtomic(path, [
    npyHeader(arr.dtype, arr.shape),
    new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength),
  ]);
}

function parseHeader(buf: Buffer, path: string): { dtype: NpyDtype; shape: number[]; offset: number } {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC))
    throw new Error(`${path}: not a .npy file (bad magic)`);
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > buf.length) throw new Error(`${path}: .npy header runs past the end of the file`);
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((k) => DESCR[k] === descr);
  if (!dtype) throw new Error(`${path}: unsupported .npy dtype ${descr ?? '(missing)'}`);
  if (fortran !== 'False') throw new Error(`${path}: Fortran-order arrays are not supported`);
  if (shapeStr === undefined) throw new Error(`${path}: .npy header has no shape`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  return { dtype, shape, offset: start + headerLen };
}

/** Read a .npy written by NumPy or `writeNpy` (C order, little-endian, the dtypes above). */
export async function readNpy(path: string): Promise<NpyArray> {
  const buf = await readFile(path);
  const { dtype, shape, offset } = parseHeader(buf, path);
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = count * ITEM[dtype];
  if (offset + bytes > buf.length) {
    throw new Error(`${path}: shape [${shape}] needs ${bytes} data bytes, file has ${buf.length - offset}`);
  }
  const raw = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + bytes);
  const data: NpyData =
    dtype === 'uint32'
      ? new Uint32Array(raw)
      : dtype === 'int32'
        ? new Int32Array(raw)
        : dtype === 'int64'
          ? new BigInt64Array(raw)
          : dtype === 'uint8'
            ? new Uint8Array(raw)
            : dtype === 'float16'
              ? new Uint16Array(raw)
              : new Float32Array(raw);
  return { dtype, shape, data };
}

/** Header facts of a .npy file, read without its data: for checking a shard against what an index expects. */
export interface NpyInfo {
  dtype: NpyDtype;
  shape: number[];
  /** Bytes the header and the data should take together. */
  expectedBytes: number;
  /** Bytes the file takes. */
  fileBytes: number;
}

/** Read only the header of a .npy file (and its size); errors name the file. */
export async function npyInfo(path: string): Promise<NpyInfo> {
  const fh = await open(path, 'r');
  try {
    const fileBytes = (await fh.stat()).size;
    const head = Buffer.alloc(Math.min(fileBytes, 65536));
    await fh.read(head, 0, head.length, 0);
    const { dtype, shape, offset } = parseHeader(head, path);
    const count = shape.reduce((a, b) => a * b, 1);
    return { dtype, shape, expectedBytes: offset + count * ITEM[dtype], fileBytes };
  } finally {
    await fh.close();
  }
}
