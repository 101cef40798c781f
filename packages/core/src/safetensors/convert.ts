import type { DType, HostData, HostTensor } from './types.js';

// Decoding ------------------------------------------------------------------------------------------

let halfTable: Float32Array | undefined;

/** IEEE 754 half (bits) -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** bfloat16 (bits) -> number (exact: bf16 is the top half of a float32). */
export function bf16ToFloat(b: number): number {
  const u = new Uint32Array([(b & 0xffff) << 16]);
  return new Float32Array(u.buffer)[0]!;
}

/** Any host tensor as float32 (F16/BF16 decoded, integers converted). An F32 tensor's own array is returned. */
export function toFloat32(t: HostTensor): Float32Array {
  const d = t.data;
  switch (t.dtype) {
    case 'F32':
      return d as Float32Array;
    case 'BF16': {
      const out = new Float32Array(d.length);
      const u = new Uint32Array(out.buffer);
      const s = d as Uint16Array;
      for (let i = 0; i < s.length; i++) u[i] = s[i]! << 16;
      return out;
    }
    case 'F16': {
      // All 65536 halves are decoded once; a lookup beats per-element arithmetic on large weights.
      halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
      const table = halfTable;
      const out = new Float32Array(d.length);
      const s = d as Uint16Array;
      for (let i = 0; i < s.length; i++) out[i] = table[s[i]!]!;
      return out;
    }
    case 'I64':
      return Float32Array.from(d as BigInt64Array, (v) => Number(v));
    default:
      return Float32Array.from(d as ArrayLike<number>);
  }
}

/** Any host tensor as float64; I64 values must be exact in a double (|v| <= 2^53 - 1). */
export function toFloat64(t: HostTensor, what = 'tensor'): Float64Array {
  if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') return Float64Array.from(toFloat32(t));
  if (t.dtype !== 'I64') return Float64Array.from(t.data as ArrayLike<number>);
  const d = t.data as BigInt64Array;
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new Error(`${what}: I64 value ${v} at index ${i} is not exactly representable as a number`);
    }
    out[i] = Number(v);
  }
  return out;
}

/**
 * Integer host tensor as Int32. I64 values must fit in int32; float tensors must hold integers in
 * range. `what` names the input in errors. An I32 tensor's own array is returned.
 */
export function toInt32(t: HostTensor, what = 'tensor'): Int32Array {
  if (t.dtype === 'I32') return t.data as Int32Array;
  if (t.dtype === 'I64') {
    const d = t.data as BigInt64Array;
    const out = new Int32Array(d.length);
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v > 2147483647n || v < -2147483648n)
        throw new Error(`${what}: I64 value ${v} at index ${i} does not fit in int32`);
      out[i] = Number(v);
    }
    return out;
  }
  if (t.dtype === 'U8' || t.dtype === 'BOOL') return Int32Array.from(t.data as Uint8Array);
  const f = toFloat32(t);
  const out = new Int32Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const v = f[i]!;
    if (!Number.isInteger(v) || v > 2147483647 || v < -2147483648) {
      throw new Error(`${what}: ${t.dtype} value ${v} at index ${i} is not an int32 integer`);
    }
    out[i] = v;
  }
  return out;
}

// Encoding (round to nearest, ties to even) --------------------------------------------------------

/** Round a non-negative double to an integer, ties to even. */
function roundEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * Encode a double into a binary float format with `expBits`/`manBits`, rounding the exact value to
 * nearest-even once (no detour through float32, which could round twice). NaN becomes a quiet NaN.
 */
function encodeFloat(x: number, expBits: number, manBits: number): number {
  const expMax = (1 << expBits) - 1;
  const bias = (1 << (expBits - 1)) - 1;
  const sign = x < 0 || Object.is(x, -0) ? 1 << (expBits + manBits) : 0;
  const inf = sign | (expMax << manBits);
  if (Number.isNaN(x)) return (expMax << manBits) | (1 << (manBits - 1));
  const a = Math.abs(x);
  if (a === Number.POSITIVE_INFINITY) return inf;
  const minNormalExp = 1 - bias;
  let e = Math.max(Math.floor(Math.log2(a)), minNormalExp - 1);
  if (a !== 0) {
    // Math.log2 may be off by one next to powers of two; fix it exactly.
    if (2 ** e > a) e--;
    else if (2 ** (e + 1) <= a) e++;
  }
  if (e < minNormalExp) {
    // Subnormal: units of 2^(minNormalExp - manBits); rounding up into the smallest normal is encoded correctly.
    return sign | roundEven(a * 2 ** (manBits - minNormalExp));
  }
  const m = roundEven((a / 2 ** e - 1) * 2 ** manBits); // exact scaling by powers of two
  const bits = ((e + bias) << manBits) + m; // a mantissa carry bumps the exponent
  return bits >= expMax << manBits ? inf : sign | bits;
}

/** number -> IEEE 754 half bits (round to nearest even; overflow to +-inf; NaN to 0x7e00). */
export function floatToHalf(x: number): number {
  return encodeFloat(x, 5, 10);
}

/** number -> bfloat16 bits (round to nearest even; NaN to a quiet NaN). */
export function floatToBf16(x: number): number {
  return encodeFloat(x, 8, 7);
}

/** Float32 values -> half bits, round to nearest even, from the float32 bit patterns (fast path). */
export function f32ToF16Bits(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const e = (x >>> 23) & 0xff;
    let m = x & 0x7fffff;
    if (e === 0xff) {
      out[i] = sign | 0x7c00 | (m ? 0x200 | (m >>> 13) : 0); // keep NaN payload, force quiet
      continue;
    }
    const E = e - 112; // rebias 127 -> 15
    if (E >= 31) {
      out[i] = sign | 0x7c00;
    } else if (E <= 0) {
      if (E < -10) {
        out[i] = sign; // below half the smallest subnormal
        continue;
      }
      m |= 0x800000;
      const shift = 14 - E;
      let q = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && q & 1)) q++;
      out[i] = sign | q;
    } else {
      let q = (E << 10) | (m >>> 13);
      const rem = m & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && q & 1)) q++; // carry may reach 0x7c00 = inf, as it should
      out[i] = sign | q;
    }
  }
  return out;
}

/** Float32 values -> bfloat16 bits, round to nearest even (fast path on the bit patterns). */
export function f32ToBf16Bits(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/**
 * Float values as a host tensor of a float dtype. Float32Array input takes the bit-pattern fast path;
 * other arrays (e.g. Float64Array) are rounded once from their exact values.
 */
export function fromFloat32(
  values: Float32Array | ArrayLike<number>,
  shape: number[],
  dtype: 'F32' | 'F16' | 'BF16' = 'F32',
): HostTensor {
  const f32 = values instanceof Float32Array;
  let data: HostData;
  if (dtype === 'F32') data = f32 ? values : Float32Array.from(values);
  else if (f32) data = dtype === 'F16' ? f32ToF16Bits(values) : f32ToBf16Bits(values);
  else data = Uint16Array.from(values, dtype === 'F16' ? floatToHalf : floatToBf16);
  return { dtype, shape, data };
}

/** Integer values as an I64/I32/U8 host tensor; every value must be an integer that fits the dtype. */
export function fromInts(
  values: ArrayLike<number>,
  shape: number[],
  dtype: 'I64' | 'I32' | 'U8' = 'I64',
  what = 'tensor',
): HostTensor {
  const [lo, hi] =
    dtype === 'I64'
      ? [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]
      : dtype === 'I32'
        ? [-2147483648, 2147483647]
        : [0, 255];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new Error(`${what}: value ${v} at index ${i} does not fit ${dtype}`);
  }
  const data =
    dtype === 'I64'
      ? BigInt64Array.from(values, (v) => BigInt(v))
      : dtype === 'I32'
        ? Int32Array.from(values)
        : Uint8Array.from(values);
  return { dtype, shape, data };
}

/** Booleans (or 0/non-zero numbers) as a BOOL host tensor of 0/1 bytes. */
export function fromBool(values: ArrayLike<boolean | number>, shape: number[]): HostTensor {
  return {
    dtype: 'BOOL',
    shape,
    data: Uint8Array.from(values as ArrayLike<boolean | number>, (v) => (v ? 1 : 0)),
  };
}

/** Convert a host tensor to another float dtype (F32/F16/BF16), rounding to nearest even. */
export function castFloat(t: HostTensor, dtype: 'F32' | 'F16' | 'BF16'): HostTensor {
  if (t.dtype === dtype) return t;
  // Integers go through float64 so that they are rounded only once.
  return fromFloat32(isFloatDType(t.dtype) ? toFloat32(t) : toFloat64(t), [...t.shape], dtype);
}

/** The dtypes that hold floating-point values. */
export function isFloatDType(d: DType): d is 'F32' | 'F16' | 'BF16' {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}
