/** Safetensors dtypes qlip reads and writes. */
export const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL'] as const;
export type DType = (typeof DTYPES)[number];

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Record<DType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };

/** Raw storage per dtype: F16/BF16 keep their bits in a Uint16Array; BOOL is 0/1 bytes. */
export type HostData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** The typed array class that holds each dtype's raw elements. */
export const DTYPE_ARRAY: Record<DType, string> = {
  F32: 'Float32Array',
  F16: 'Uint16Array',
  BF16: 'Uint16Array',
  I64: 'BigInt64Array',
  I32: 'Int32Array',
  U8: 'Uint8Array',
  BOOL: 'Uint8Array',
};

/** A tensor in host memory, as stored in a safetensors file (row-major, little-endian). */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: HostData;
}

/**
 * A tensor whose bytes are produced only when the writer reaches it, so a model can be saved without
 * holding a second copy of every weight. dtype and shape must be known up front: they go in the header.
 */
export interface LazyTensor {
  dtype: DType;
  shape: number[];
  data: () => HostData | Promise<HostData>;
}

/** What the writers accept per tensor. */
export type TensorSource = HostTensor | LazyTensor;

/** Named tensors for the writers; a Map or a plain record (written in alignment order, not insertion order). */
export type TensorSet = Map<string, TensorSource> | Record<string, TensorSource>;

/** One entry of a safetensors header, with its absolute byte range in the file. */
export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute offset in the file (8 + header length + data_offsets[0]). */
  start: number;
  /** Absolute end offset (exclusive). */
  end: number;
  /** The .safetensors file that holds the tensor (a shard, for sharded checkpoints). */
  file: string;
}

/** Read access to named tensors: one .safetensors file or a sharded checkpoint. */
export interface TensorReader {
  readonly path: string;
  /** The `__metadata__` string map (for sharded checkpoints: the index's `metadata`). */
  readonly metadata: Record<string, string>;
  readonly entries: ReadonlyMap<string, TensorEntry>;
  /** Tensor names in file order (by data offset; shard by shard for sharded checkpoints). */
  names(): string[];
  has(name: string): boolean;
  /** One tensor's raw data, copied into a fresh, exactly sized and aligned buffer. */
  read(name: string): Promise<HostTensor>;
  close(): Promise<void>;
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
