import { type FileHandle, open } from 'node:fs/promises';
import { MAX_HEADER_BYTES, parseHeader } from './header.js';
import type { DType, HostData, HostTensor, TensorEntry, TensorReader } from './types.js';

/** Largest single positional read (libuv caps one read near 2 GiB). */
const READ_CHUNK = 1 << 28;

/**
 * Reads a `.safetensors` file tensor by tensor: the header is parsed and validated once, each tensor's
 * bytes are read from disk on demand with positional reads, so a multi-GB checkpoint never sits in
 * memory twice.
 */
export class SafetensorsReader implements TensorReader {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly metadata: Record<string, string>,
    /** Entries in file order (by data offset). */
    readonly entries: Map<string, TensorEntry>,
  ) {}

  /** Open and validate `path`. Throws an Error naming the file and the fault; never allocates past the file size. */
  static async open(path: string): Promise<SafetensorsReader> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw new Error(`${path}: cannot open safetensors file: ${(err as Error).message}`);
    }
    try {
      const stat = await fh.stat();
      if (!stat.isFile()) throw new Error(`${path}: not a regular file`);
      const size = stat.size;
      if (size < 8)
        throw new Error(
          `${path}: invalid safetensors file: ${size} bytes is too short for the 8-byte header length`,
        );
      const lenBuf = await readExact(fh, path, 0, 8);
      const headerLen = Buffer.from(lenBuf.buffer).readBigUInt64LE(0);
      if (headerLen > BigInt(size - 8)) {
        throw new Error(
          `${path}: invalid safetensors file: header length ${headerLen} runs past the end of the file (${size} bytes)`,
        );
      }
      if (headerLen > BigInt(MAX_HEADER_BYTES)) {
        throw new Error(
          `${path}: invalid safetensors file: header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
        );
      }
      const n = Number(headerLen);
      const header = parseHeader(path, await readExact(fh, path, 8, n), size - 8 - n);
      const base = 8 + n;
      const entries = new Map<string, TensorEntry>();
      for (const t of header.tensors) {
        entries.set(t.name, {
          name: t.name,
          dtype: t.dtype,
          shape: t.shape,
          start: base + t.begin,
          end: base + t.end,
          file: path,
        });
      }
      return new SafetensorsReader(path, fh, header.metadata, entries);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Read one tensor's raw data into a fresh buffer of exactly its size (so every typed view is aligned). */
  async read(name: string): Promise<HostTensor> {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: no tensor named ${JSON.stringify(name)}`);
    if (this.closed) throw new Error(`${this.path}: reader is closed (reading ${JSON.stringify(name)})`);
    const bytes = await readExact(this.fh, this.path, e.start, e.end - e.start);
    return { dtype: e.dtype, shape: [...e.shape], data: viewOf(e.dtype, bytes.buffer as ArrayBuffer) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/** Read exactly `length` bytes at `position` into a new ArrayBuffer, or fail naming the file. */
async function readExact(
  fh: FileHandle,
  path: string,
  position: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const want = Math.min(READ_CHUNK, length - done);
    const { bytesRead } = await fh.read(out, done, want, position + done);
    if (bytesRead === 0) {
      throw new Error(
        `${path}: file ended at byte ${position + done} while reading ${length} bytes at ${position} (truncated?)`,
      );
    }
    done += bytesRead;
  }
  return out;
}

/** A typed view of a tensor's bytes, per dtype (F16/BF16 stay as raw bits). */
export function viewOf(dtype: DType, buf: ArrayBuffer): HostData {
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buf);
    case 'I64':
      return new BigInt64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf);
  }
}
