/** Safetensors dtypes qlip reads and writes. */
export const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL'] as const;
export type DType = (typeof DTYPES)[number];

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Record<DType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };

/** Raw storage per dtype: F16/BF16 keep their bits in a Uint16Array; BOOL is 0/1 bytes. */
export type HostData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** A tensor in host memory, as stored in a safetensors file (row-major, little-endian). */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: HostData;
}

/** One entry of a safetensors header, with its absolute byte range in the file. */
export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute offset in the file (8 + header length + data_offsets[0]). */
  start: number;
  /** Absolute end offset (exclusive). */
  end: number;
}
