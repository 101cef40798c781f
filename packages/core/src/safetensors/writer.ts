import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDir, openForWrite, syncAndCheckSize, type WriteHandle, writeAll } from '../durable.js';
import { encodeHeader, type HeaderTensor } from './header.js';
import {
  DTYPE_ARRAY,
  DTYPE_SIZE,
  DTYPES,
  type HostData,
  numel,
  type TensorSet,
  type TensorSource,
} from './types.js';

/** A tensor placed in a file: its header entry and where its bytes come from. */
interface PlannedTensor extends HeaderTensor {
  source: TensorSource;
}

/** The tensors of a set as [name, source] pairs, in the caller's order. */
function tensorPairs(tensors: TensorSet): [string, TensorSource][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Bytes a tensor takes in the data section. Validates its dtype and shape (errors name `file`). */
function tensorBytes(file: string, name: string, t: TensorSource): number {
  const at = `${file}: tensor ${JSON.stringify(name)}`;
  if (name === '__metadata__') throw new Error(`${at}: "__metadata__" is reserved for the metadata map`);
  if (!(DTYPES as readonly string[]).includes(t.dtype)) {
    throw new Error(`${at}: unknown dtype ${JSON.stringify(t.dtype)} (supported: ${DTYPES.join(', ')})`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${at}: shape ${JSON.stringify(t.shape)} must be an array of non-negative integers`);
  }
  return numel(t.shape) * DTYPE_SIZE[t.dtype];
}

/**
 * Data-section layout: tensors sorted by decreasing item size, then name, packed back to back. Every
 * item size is a power of two and each earlier tensor's size is a multiple of a larger-or-equal item
 * size, so every offset is a multiple of its own item size (and the data section starts 8-aligned).
 */
function planLayout(file: string, pairs: readonly [string, TensorSource][]): PlannedTensor[] {
  const seen = new Set<string>();
  const sized = pairs.map(([name, source]) => {
    if (seen.has(name)) throw new Error(`${file}: tensor ${JSON.stringify(name)} is given twice`);
    seen.add(name);
    return { name, source, bytes: tensorBytes(file, name, source) };
  });
  sized.sort(
    (a, b) =>
      DTYPE_SIZE[b.source.dtype] - DTYPE_SIZE[a.source.dtype] ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  let pos = 0;
  return sized.map(({ name, source, bytes }) => {
    const planned = {
      name,
      dtype: source.dtype,
      shape: [...source.shape],
      begin: pos,
      end: pos + bytes,
      source,
    };
    pos += bytes;
    return planned;
  });
}

function checkMetadata(file: string, metadata: Record<string, string> | undefined): void {
  if (metadata === undefined) return;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new Error(`${file}: metadata must be an object of string values`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string')
      throw new Error(`${file}: metadata value ${JSON.stringify(k)} is a ${typeof v}, expected a string`);
  }
}

/** Check produced data against the planned dtype and shape. */
function checkData(file: string, t: PlannedTensor, data: HostData): void {
  const at = `${file}: tensor ${JSON.stringify(t.name)}`;
  const want = DTYPE_ARRAY[t.dtype];
  const got = ArrayBuffer.isView(data)
    ? (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag]
    : typeof data;
  if (got !== want) throw new Error(`${at}: ${t.dtype} data must be a ${want}, got ${got}`);
  const count = numel(t.shape);
  if (data.length !== count)
    throw new Error(`${at}: data has ${data.length} elements but shape [${t.shape}] needs ${count}`);
  if (t.dtype === 'BOOL' && (data as Uint8Array).some((v) => v > 1))
    throw new Error(`${at}: BOOL data must hold only 0 and 1`);
}

/**
 * Stream a planned file into a fresh temp file beside `path` (header, then one tensor at a time; lazy
 * tensors are produced just before they are written and dropped after). Returns the temp path; on any
 * failure the temp file is removed and the error names `path`.
 */
async function writeTemp(
  path: string,
  plan: readonly PlannedTensor[],
  metadata?: Record<string, string>,
): Promise<string> {
  checkMetadata(path, metadata);
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fh: WriteHandle;
  try {
    fh = await openForWrite(tmp, 'wx');
  } catch (err) {
    throw new Error(`${path}: cannot write safetensors file: ${(err as Error).message}`, { cause: err });
  }
  try {
    const header = encodeHeader(plan, metadata);
    await writeAll(fh, header, 0, path);
    for (const t of plan) {
      let data: HostData;
      try {
        data = typeof t.source.data === 'function' ? await t.source.data() : t.source.data;
      } catch (err) {
        throw new Error(
          `${path}: producing tensor ${JSON.stringify(t.name)} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
      checkData(path, t, data);
      await writeAll(
        fh,
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        header.length + t.begin,
        path,
      );
    }
    const dataBytes = plan.reduce((m, t) => Math.max(m, t.end), 0);
    await syncAndCheckSize(fh, path, header.length + dataBytes);
    await fh.close();
    return tmp;
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    if ((err as Error).message.startsWith(path)) throw err;
    throw new Error(`${path}: writing safetensors file failed: ${(err as Error).message}`, { cause: err });
  }
}

/** Move a finished temp file onto its destination (removing the temp file if that fails). */
async function commitTemp(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`${path}: cannot write safetensors file: ${(err as Error).message}`, { cause: err });
  }
  await fsyncDir(dirname(path));
}

/**
 * Write tensors to `path` as safetensors, atomically: streamed into a temp file in the same directory,
 * then renamed, so readers never see a partial file and a failure leaves no file behind. Tensors may be
 * lazy (`data` a function called when the tensor is written), so a model need not exist twice in memory.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorSet,
  metadata?: Record<string, string>,
): Promise<void> {
  const plan = planLayout(path, tensorPairs(tensors));
  const tmp = await writeTemp(path, plan, metadata);
  await commitTemp(tmp, path);
}
