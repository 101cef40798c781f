import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  bf16ToFloat,
  castFloat,
  f32ToBf16Bits,
  f32ToF16Bits,
  floatToBf16,
  floatToHalf,
  fromBool,
  fromFloat32,
  fromInts,
  halfToFloat,
  toFloat32,
  toFloat64,
  toInt32,
} from '../src/index.js';

const hex = (v: number) => `0x${v.toString(16).padStart(4, '0')}`;
const viaF32 = (x: number, f: (a: Float32Array) => Uint16Array) => f(Float32Array.of(x))[0]!;

function hasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('F16 encode (round to nearest even)', () => {
  const cases: [string, number, number][] = [
    ['+0', 0, 0x0000],
    ['-0', -0, 0x8000],
    ['1', 1, 0x3c00],
    ['-2', -2, 0xc000],
    ['0.1', 0.1, 0x2e66],
    ['max finite 65504', 65504, 0x7bff],
    ['65519 rounds down to max', 65519, 0x7bff],
    ['65520 (tie) rounds to even = inf', 65520, 0x7c00],
    ['1e6 overflows to inf', 1e6, 0x7c00],
    ['-1e6 overflows to -inf', -1e6, 0xfc00],
    ['+inf', Number.POSITIVE_INFINITY, 0x7c00],
    ['-inf', Number.NEGATIVE_INFINITY, 0xfc00],
    ['smallest subnormal 2^-24', 2 ** -24, 0x0001],
    ['2^-25 (tie) rounds to even = 0', 2 ** -25, 0x0000],
    ['-2^-25 rounds to -0', -(2 ** -25), 0x8000],
    ['just over 2^-25 rounds up', 2 ** -25 * (1 + 2 ** -20), 0x0001],
    ['3 * 2^-25 (tie) rounds to even = 2 units', 3 * 2 ** -25, 0x0002],
    ['largest subnormal', 1023 * 2 ** -24, 0x03ff],
    ['smallest normal 2^-14', 2 ** -14, 0x0400],
    ['subnormal rounding up into the smallest normal', 1023.5 * 2 ** -24, 0x0400],
    ['1 + 2^-11 (tie) rounds to even = 1', 1 + 2 ** -11, 0x3c00],
    ['1 + 3 * 2^-11 (tie) rounds to even = 1 + 2^-9', 1 + 3 * 2 ** -11, 0x3c02],
    ['1 + 2^-11 + 2^-20 rounds up', 1 + 2 ** -11 + 2 ** -20, 0x3c01],
    ['2047.9 rounds to 2048 (mantissa carry)', 2047.9, 0x6800],
  ];
  it.each(cases)('%s', (_label, x, bits) => {
    expect(hex(floatToHalf(x))).toBe(hex(bits));
    if (Math.fround(x) === x || !Number.isFinite(x)) expect(hex(viaF32(x, f32ToF16Bits))).toBe(hex(bits));
  });

  it('NaN becomes a quiet NaN on both paths', () => {
    for (const h of [floatToHalf(Number.NaN), viaF32(Number.NaN, f32ToF16Bits)]) {
      expect(h & 0x7c00).toBe(0x7c00);
      expect(h & 0x0200).toBe(0x0200);
      expect(Number.isNaN(halfToFloat(h))).toBe(true);
    }
  });

  it('every finite half decodes and re-encodes to the same bits (both paths)', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f = toFloat32({ dtype: 'F16', shape: [65536], data: all });
    const back = f32ToF16Bits(f);
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN payloads
      expect(f[h]).toBe(halfToFloat(h));
      if (back[h] !== h || floatToHalf(f[h]!) !== h)
        throw new Error(`half ${hex(h)} -> ${f[h]} -> ${hex(back[h]!)}`);
    }
  });

  it('the float32 fast path agrees with the exact encoder on 200k random float32 bit patterns', () => {
    const u = new Uint32Array(200_000);
    let s = 7;
    for (let i = 0; i < u.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      // bias exponents towards the half range so subnormal/overflow edges get hit
      u[i] = (s & 0x807fffff) | ((((s >>> 23) % 48) + 96) << 23);
    }
    const f = new Float32Array(u.buffer);
    const fast = f32ToF16Bits(f);
    for (let i = 0; i < f.length; i++)
      if (fast[i] !== floatToHalf(f[i]!))
        throw new Error(`${f[i]}: ${hex(fast[i]!)} vs ${hex(floatToHalf(f[i]!))}`);
  });

  it.skipIf(!hasNumpy())('matches NumPy float32 -> float16 and float64 -> float16 on random values', () => {
    const out = execFileSync(
      'python3',
      [
        '-W',
        'ignore',
        '-c',
        `import numpy as np, json
r = np.random.default_rng(3)
x = np.concatenate([r.normal(0, 1, 2000), r.normal(0, 1e-5, 2000), r.normal(0, 3e4, 2000), r.uniform(-7e4, 7e4, 2000)])
f32 = x.astype(np.float32)
print(json.dumps({"x": x.tolist(), "h64": x.astype(np.float16).view(np.uint16).tolist(), "f32": f32.astype(np.float64).tolist(), "h32": f32.astype(np.float16).view(np.uint16).tolist()}))`,
      ],
      { maxBuffer: 1 << 26 },
    );
    const { x, h64, f32, h32 } = JSON.parse(out.toString()) as Record<string, number[]>;
    expect(x!.map(floatToHalf)).toEqual(h64);
    expect(Array.from(f32ToF16Bits(Float32Array.from(f32!)))).toEqual(h32);
  });
});

describe('BF16 encode (round to nearest even)', () => {
  const cases: [string, number, number][] = [
    ['+0', 0, 0x0000],
    ['-0', -0, 0x8000],
    ['1', 1, 0x3f80],
    ['-1.5', -1.5, 0xbfc0],
    ['+inf', Number.POSITIVE_INFINITY, 0x7f80],
    ['-inf', Number.NEGATIVE_INFINITY, 0xff80],
    ['1 + 2^-8 (tie) rounds to even = 1', 1 + 2 ** -8, 0x3f80],
    ['1 + 3 * 2^-8 (tie) rounds to even', 1 + 3 * 2 ** -8, 0x3f82],
    ['float32 max rounds to inf', 3.4028234663852886e38, 0x7f80],
    ['bf16 max stays finite', 3.3895313892515355e38, 0x7f7f],
    ['smallest subnormal 2^-133', 2 ** -133, 0x0001],
    ['2^-134 (tie) rounds to 0', 2 ** -134, 0x0000],
  ];
  it.each(cases)('%s', (_label, x, bits) => {
    expect(hex(floatToBf16(x))).toBe(hex(bits));
    expect(hex(viaF32(x, f32ToBf16Bits))).toBe(hex(bits));
  });

  it('rounds a double once, not via float32 (1 + 2^-8 + 2^-30 rounds up)', () => {
    expect(hex(floatToBf16(1 + 2 ** -8 + 2 ** -30))).toBe('0x3f81');
    expect(hex(viaF32(1 + 2 ** -8 + 2 ** -30, f32ToBf16Bits))).toBe('0x3f80'); // float32 already lost the 2^-30
  });

  it('NaN stays NaN (quiet) on both paths', () => {
    for (const b of [floatToBf16(Number.NaN), viaF32(Number.NaN, f32ToBf16Bits)]) {
      expect(Number.isNaN(bf16ToFloat(b))).toBe(true);
      expect(b & 0x0040).toBe(0x0040);
    }
  });

  it('every bf16 value decodes and re-encodes to the same bits', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f = toFloat32({ dtype: 'BF16', shape: [65536], data: all });
    const back = f32ToBf16Bits(f);
    for (let b = 0; b < 65536; b++) {
      if ((b & 0x7f80) === 0x7f80 && b & 0x7f) continue;
      if (back[b] !== b || floatToBf16(f[b]!) !== b || !Object.is(bf16ToFloat(b), f[b]))
        throw new Error(`bf16 ${hex(b)}`);
    }
  });
});

describe('integer and bool conversions', () => {
  it('I64 -> Int32 and back, exact', () => {
    const t = fromInts([0, -1, 2147483647, -2147483648, 49407], [5], 'I64');
    expect(t.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(toInt32(t))).toEqual([0, -1, 2147483647, -2147483648, 49407]);
  });

  it('I64 -> Int32 refuses values that do not fit, naming the input', () => {
    const t = { dtype: 'I64' as const, shape: [2], data: BigInt64Array.of(1n, 2n ** 31n) };
    expect(() => toInt32(t, 'input_ids')).toThrow(
      /input_ids: I64 value 2147483648 at index 1 does not fit in int32/,
    );
  });

  it('I64 -> number is exact up to 2^53 - 1 and refuses beyond', () => {
    const big = BigInt(Number.MAX_SAFE_INTEGER);
    expect(Array.from(toFloat64({ dtype: 'I64', shape: [2], data: BigInt64Array.of(-big, big) }))).toEqual([
      -(2 ** 53 - 1),
      2 ** 53 - 1,
    ]);
    expect(() => toFloat64({ dtype: 'I64', shape: [1], data: BigInt64Array.of(big + 2n) }, 'steps')).toThrow(
      /steps: I64 value 9007199254740993 at index 0 is not exactly representable/,
    );
  });

  it('number -> I64/I32/U8 refuses non-integers and out-of-range values', () => {
    expect(() => fromInts([1, 1.5], [2], 'I64', 'ids')).toThrow(/ids: value 1.5 at index 1 does not fit I64/);
    expect(() => fromInts([2 ** 53], [1], 'I64')).toThrow(/does not fit I64/);
    expect(() => fromInts([2 ** 31], [1], 'I32')).toThrow(/value 2147483648 at index 0 does not fit I32/);
    expect(() => fromInts([256], [1], 'U8')).toThrow(/does not fit U8/);
    expect(Array.from(fromInts([-(2 ** 53) + 1], [1], 'I64').data as BigInt64Array)).toEqual([
      -(2n ** 53n) + 1n,
    ]);
  });

  it('float -> Int32 accepts integral values only', () => {
    expect(Array.from(toInt32({ dtype: 'F32', shape: [2], data: Float32Array.of(3, -4) }))).toEqual([3, -4]);
    expect(() => toInt32({ dtype: 'F32', shape: [1], data: Float32Array.of(0.5) }, 'x')).toThrow(
      /x: F32 value 0.5 at index 0 is not an int32 integer/,
    );
  });

  it('I32 beyond 2^24 converts to float64 exactly', () => {
    expect(Array.from(toFloat64({ dtype: 'I32', shape: [1], data: Int32Array.of(16777217) }))).toEqual([
      16777217,
    ]);
  });

  it('BOOL is stored as 0/1 bytes', () => {
    const t = fromBool([true, false, 1, 0, 7], [5]);
    expect(t.dtype).toBe('BOOL');
    expect(Array.from(t.data as Uint8Array)).toEqual([1, 0, 1, 0, 1]);
    expect(Array.from(toInt32(t))).toEqual([1, 0, 1, 0, 1]);
  });

  it('castFloat converts between float dtypes and rounds I32 once', () => {
    const f = fromFloat32(Float32Array.of(1, 0.1, -65504), [3], 'F16');
    expect(Array.from(f.data as Uint16Array).map(hex)).toEqual(['0x3c00', '0x2e66', '0xfbff']);
    expect(Array.from(toFloat32(castFloat(f, 'BF16')))).toEqual([1, 0.10009765625, -65536]);
    // 2^24 + 1 is not a float32: a float32 detour would give 2^24, then a tie.
    const cast = castFloat({ dtype: 'I32', shape: [1], data: Int32Array.of(2 ** 24 + 2 ** 16 + 1) }, 'BF16');
    expect(toFloat32(cast)[0]).toBe(2 ** 24 + 2 ** 17);
  });
});
