/**
 * NumPy `.npy` (format version 1.0) for the arrays qlip hands to Python users: token grids (uint32),
 * features (float16/float32). Pure (no Node built-ins), so the browser page writes the same bytes as the
 * CLI; the file I/O lives in npy.ts.
 */
export type NpyDtype = 'uint32' | 'int32' | 'int64' | 'uint8' | 'float16' | 'float32';

export const DESCR: Record<NpyDtype, string> = {
  uint32: '<u4',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  float16: '<f2',
  float32: '<f4',
};
export const ITEM: Record<NpyDtype, number> = {
  uint32: 4,
  int32: 4,
  int64: 8,
  uint8: 1,
  float16: 2,
  float32: 4,
};
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Array data for `writeNpy`; float16 is given as raw half bits (Uint16Array). */
export type NpyData = Uint32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Float32Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

/** The .npy header bytes for a C-order array (padded with spaces so data starts on a 64-byte boundary). */
export function npyHeaderBytes(dtype: NpyDtype, shape: number[]): Uint8Array {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64);
  dict += '\n';
  const header = new Uint8Array(MAGIC.length + 4 + dict.length);
  header.set(MAGIC, 0);
  header[6] = 1; // major version
  header[7] = 0;
  new DataView(header.buffer).setUint16(8, dict.length, true);
  // The dict is ASCII (dtype codes, digits, punctuation), so one byte per character.
  for (let i = 0; i < dict.length; i++) header[10 + i] = dict.charCodeAt(i);
  return header;
}

/** Check that `arr.data` matches its dtype and shape; `what` names the array in the error. */
export function checkNpyArray(arr: NpyArray, what: string): void {
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (arr.data.length !== count) {
    throw new Error(`${what}: data has ${arr.data.length} elements but shape [${arr.shape}] needs ${count}`);
  }
  if (arr.data.BYTES_PER_ELEMENT !== ITEM[arr.dtype]) {
    throw new Error(`${what}: ${arr.data.constructor.name} does not hold ${arr.dtype} elements`);
  }
}

/** A whole `.npy` file in memory (header + little-endian data), e.g. for a browser download. */
export function npyBytes(arr: NpyArray): Uint8Array {
  checkNpyArray(arr, 'npyBytes');
  const header = npyHeaderBytes(arr.dtype, arr.shape);
  const out = new Uint8Array(header.length + arr.data.byteLength);
  out.set(header, 0);
  out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength), header.length);
  return out;
}
