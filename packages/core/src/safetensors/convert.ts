import type { HostTensor } from './types.js';

/** Any numeric host tensor as float32 (F16/BF16 decoded, integers converted). */
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
      const out = new Float32Array(d.length);
      const s = d as Uint16Array;
      for (let i = 0; i < s.length; i++) out[i] = halfToFloat(s[i]!);
      return out;
    }
    case 'I64':
      return Float32Array.from(d as BigInt64Array, (v) => Number(v));
    default:
      return Float32Array.from(d as ArrayLike<number>);
  }
}

/** Integer host tensor as Int32 (I64 values must fit). */
export function toInt32(t: HostTensor): Int32Array {
  if (t.dtype === 'I64') return Int32Array.from(t.data as BigInt64Array, (v) => Number(v));
  if (t.dtype === 'I32') return t.data as Int32Array;
  return Int32Array.from(toFloat32(t));
}

/** IEEE 754 half (bits) -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
