import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, selectBackend } from '../src/index.js';
import { conv2dBackpropFilterHost, setWasmConvBackpropChunk } from '../src/wasm-conv-backprop.js';

type Pad =
  | 'valid'
  | 'same'
  | number
  | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { x: [2, 8, 8, 3], f: [4, 4, 3, 5], stride: [2, 2], pad: 1 },
  { x: [1, 7, 9, 2], f: [3, 3, 2, 4], stride: [1, 1], pad: 'same' },
  { x: [2, 9, 7, 3], f: [4, 4, 3, 2], stride: [2, 2], pad: 'same' },
  { x: [1, 6, 6, 4], f: [2, 3, 4, 3], stride: [1, 2], pad: 'valid' },
  {
    x: [1, 5, 6, 2],
    f: [3, 3, 2, 2],
    stride: [2, 1],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
];

function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Float64 reference straight from the definition, independent of tfjs' padding helpers except for the explicit pads. */
function naive(
  x: Float32Array,
  c: Case,
  dy: Float32Array,
  ho: number,
  wo: number,
  top: number,
  left: number,
): Float64Array {
  const [nb, h, w, ci] = c.x;
  const [kh, kw, , co] = c.f;
  const out = new Float64Array(kh * kw * ci * co);
  for (let ky = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) {
          let s = 0;
          for (let b = 0; b < nb; b++)
            for (let oy = 0; oy < ho; oy++)
              for (let ox = 0; ox < wo; ox++) {
                const iy = oy * c.stride[0] + ky - top;
                const ix = ox * c.stride[1] + kx - left;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += x[((b * h + iy) * w + ix) * ci + i]! * dy[((b * ho + oy) * wo + ox) * co + o]!;
              }
          out[((ky * kw + kx) * ci + i) * co + o] = s;
        }
  return out;
}

function filterGrad(c: Case, x: Float32Array, f: Float32Array, dy: Float32Array): Float32Array {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const dyt = (y: tf.Tensor4D) => tf.tensor(dy, y.shape);
    const g = tf.grad((ft: tf.Tensor4D) => {
      const y = tf.conv2d(xt, ft, c.stride, c.pad as 'same');
      return tf.sum(tf.mul(y, dyt(y)));
    })(tf.tensor4d(f, c.f));
    return g.dataSync() as Float32Array;
  });
}

describe('wasm Conv2DBackpropFilter', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it.each(CASES.map((c, i) => [i, c] as const))(
    'case %i matches the cpu backend and a float64 loop',
    async (_i, c) => {
      const rng = new Rng(7 + _i);
      const x = randn(
        rng,
        c.x.reduce((a, b) => a * b, 1),
      );
      const f = randn(
        rng,
        c.f.reduce((a, b) => a * b, 1),
      );
      const info = tf.backend_util.computeConv2DInfo(
        c.x,
        c.f,
        c.stride,
        1,
        c.pad,
        undefined,
        false,
        'channelsLast',
      );
      const dy = randn(rng, c.x[0] * info.outHeight * info.outWidth * c.f[3]);

      expect(tf.getBackend()).toBe('wasm');
      const onWasm = filterGrad(c, x, f, dy);
      await tf.setBackend('cpu');
      const onCpu = filterGrad(c, x, f, dy);
      await tf.setBackend('wasm');

      const ref = naive(x, c, dy, info.outHeight, info.outWidth, info.padInfo.top, info.padInfo.left);
      expect(onWasm.length).toBe(ref.length);
      for (let i = 0; i < ref.length; i++) {
        expect(onWasm[i]).toBeCloseTo(onCpu[i]!, 4);
        expect(onWasm[i]).toBeCloseTo(ref[i]!, 4);
      }
    },
  );

  it('chunked patch matrices (accumulated over pixel chunks) give the same gradient', () => {
    const c = CASES[0]!;
    const rng = new Rng(99);
    const x = randn(
      rng,
      c.x.reduce((a, b) => a * b, 1),
    );
    const f = randn(
      rng,
      c.f.reduce((a, b) => a * b, 1),
    );
    const info = tf.backend_util.computeConv2DInfo(
      c.x,
      c.f,
      c.stride,
      1,
      c.pad,
      undefined,
      false,
      'channelsLast',
    );
    const dy = randn(rng, c.x[0] * info.outHeight * info.outWidth * c.f[3]);
    const whole = filterGrad(c, x, f, dy);
    const prev = setWasmConvBackpropChunk(100); // K = 48 -> 2 output pixels per chunk, 16 chunks
    try {
      const chunked = filterGrad(c, x, f, dy);
      for (let i = 0; i < whole.length; i++) expect(chunked[i]).toBeCloseTo(whole[i]!, 5);
    } finally {
      setWasmConvBackpropChunk(prev);
    }
    expect(() => setWasmConvBackpropChunk(0)).toThrow(/positive integer/);
  });

  it('frees its intermediate buffers', () => {
    const c = CASES[2]!;
    const rng = new Rng(5);
    const x = randn(
      rng,
      c.x.reduce((a, b) => a * b, 1),
    );
    const f = randn(
      rng,
      c.f.reduce((a, b) => a * b, 1),
    );
    const info = tf.backend_util.computeConv2DInfo(
      c.x,
      c.f,
      c.stride,
      1,
      c.pad,
      undefined,
      false,
      'channelsLast',
    );
    const dy = randn(rng, c.x[0] * info.outHeight * info.outWidth * c.f[3]);
    filterGrad(c, x, f, dy);
    const before = tf.engine().backend.numDataIds();
    const prev = setWasmConvBackpropChunk(50);
    filterGrad(c, x, f, dy);
    setWasmConvBackpropChunk(prev);
    filterGrad(c, x, f, dy);
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });

  it('the plain-loop reference matches the float64 definition', () => {
    const c = CASES[4]!;
    const rng = new Rng(3);
    const x = randn(
      rng,
      c.x.reduce((a, b) => a * b, 1),
    );
    const info = tf.backend_util.computeConv2DInfo(
      c.x,
      c.f,
      c.stride,
      1,
      c.pad,
      undefined,
      false,
      'channelsLast',
    );
    const dy = randn(rng, c.x[0] * info.outHeight * info.outWidth * c.f[3]);
    const got = conv2dBackpropFilterHost(x, c.x, dy, {
      strides: c.stride,
      pad: c.pad,
      dataFormat: 'NHWC',
      filterShape: c.f,
    });
    const ref = naive(x, c, dy, info.outHeight, info.outWidth, info.padInfo.top, info.padInfo.left);
    for (let i = 0; i < ref.length; i++) expect(got[i]).toBeCloseTo(ref[i]!, 5);
  });

  it('rejects NCHW with a message naming the kernel', () => {
    expect(() =>
      conv2dBackpropFilterHost(new Float32Array(4), [1, 1, 2, 2], new Float32Array(4), {
        strides: 1,
        pad: 'valid',
        dataFormat: 'NCHW',
        filterShape: [1, 1, 1, 1],
      }),
    ).toThrow(/Conv2DBackpropFilter.*NHWC/);
  });
});
