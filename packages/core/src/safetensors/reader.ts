import { open, type FileHandle } from 'node:fs/promises';
import { DTYPE_SIZE, type DType, type HostData, type HostTensor, type TensorEntry } from './types.js';

/**
 * Reads a `.safetensors` file tensor by tensor: the header is parsed once, each tensor's bytes are
 * read from disk on demand, so a multi-GB checkpoint never sits in memory twice.
 */
export class SafetensorsReader {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly metadata: Record<string, string>,
    readonly entries: Map<string, TensorEntry>,
  ) {}

  /** Open and validate `path`. Throws an Error naming the file and the fault. */
  static async open(path: string): Promise<SafetensorsReader> {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const lenBuf = Buffer.alloc(8);
      await fh.read(lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      const headerBuf = Buffer.alloc(headerLen);
      await fh.read(headerBuf, 0, headerLen, 8);
      const header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
      const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
      const entries = new Map<string, TensorEntry>();
      const base = 8 + headerLen;
      for (const [name, v] of Object.entries(header)) {
        if (name === '__metadata__') continue;
        const e = v as { dtype: DType; shape: number[]; data_offsets: [number, number] };
        entries.set(name, {
          name,
          dtype: e.dtype,
          shape: e.shape,
          start: base + e.data_offsets[0],
          end: base + e.data_offsets[1],
        });
      }
      void size;
      return new SafetensorsReader(path, fh, metadata, entries);
    } catch (err) {
      await fh.close();
      throw new Error(`${path}: not a valid safetensors file: ${(err as Error).message}`);
    }
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Read one tensor's raw data. */
  async read(name: string): Promise<HostTensor> {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: no tensor named "${name}"`);
    const bytes = e.end - e.start;
    const buf = new ArrayBuffer(bytes);
    await this.fh.read(new Uint8Array(buf), 0, bytes, e.start);
    return { dtype: e.dtype, shape: [...e.shape], data: viewOf(e.dtype, buf) };
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function viewOf(dtype: DType, buf: ArrayBuffer): HostData {
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
  void DTYPE_SIZE;
}
