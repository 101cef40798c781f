import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, SafetensorsReader, selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adaptiveGanWeight,
  discriminatorLoss,
  ganActive,
  generatorLoss,
  initPatchGan,
  loadPatchGan,
  type PatchGanConfig,
  PatchGanDiscriminator,
  patchGanForward,
  patchGanFromHost,
  patchGanLayers,
} from '../src/index.js';
import { f32, randn } from './host.js';
import { writeF32Safetensors } from './write-safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'qlip-losses-'));
beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const softplus = (x: number) => Math.log1p(Math.exp(x));

describe('GAN losses', () => {
  const real = [2, 0.5, -1, 0];
  const fake = [-3, 0.2, 1.5, -0.5];
  it('hinge D and G losses (hand-computed)', () => {
    // relu(1 - real) = 0, .5, 2, 1 -> mean .875; relu(1 + fake) = 0, 1.2, 2.5, .5 -> mean 1.05
    const d = discriminatorLoss(tf.tensor4d(real, [1, 2, 2, 1]), tf.tensor4d(fake, [1, 2, 2, 1]), 'hinge');
    expect(d.dataSync()[0]).toBeCloseTo((0.875 + 1.05) / 2, 6);
    const g = generatorLoss(tf.tensor4d(fake, [1, 2, 2, 1]), 'hinge');
    expect(g.dataSync()[0]).toBeCloseTo(-(-3 + 0.2 + 1.5 - 0.5) / 4, 6);
  });
  it('non-saturating (softplus) D and G losses vs host', () => {
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const d = discriminatorLoss(tf.tensor(real), tf.tensor(fake), 'nonSaturating').dataSync()[0];
    expect(d).toBeCloseTo((mean(real.map((v) => softplus(-v))) + mean(fake.map(softplus))) / 2, 6);
    const g = generatorLoss(tf.tensor(fake), 'nonSaturating').dataSync()[0];
    expect(g).toBeCloseTo(mean(fake.map((v) => softplus(-v))), 6);
    const grad = tf
      .grad((f: tf.Tensor) => generatorLoss(f, 'nonSaturating'))(tf.tensor(fake))
      .dataSync();
    // d/df softplus(-f) / N = -sigmoid(-f) / N
    fake.forEach((v, i) => {
      expect(grad[i]).toBeCloseTo(-1 / (1 + Math.exp(v)) / 4, 6);
    });
  });
  it('rejects an unknown kind', () => {
    expect(() => generatorLoss(tf.zeros([1]), 'wgan' as 'hinge')).toThrow(/unknown GAN loss "wgan"/);
  });
  it('start step gates the generator term', () => {
    expect(ganActive(99, 100)).toBe(false);
    expect(ganActive(100, 100)).toBe(true);
  });
});

describe('adaptiveGanWeight', () => {
  it('||g_rec|| / (||g_gan|| + 1e-4) * factor, clamped to [0, 1e4]', () => {
    const rec = tf.tensor([3, 4]); // norm 5
    const gan = tf.tensor([0, 2]); // norm 2
    expect(adaptiveGanWeight(rec, gan, { factor: 0.5 })).toBeCloseTo((5 / (2 + 1e-4)) * 0.5, 6);
    expect(adaptiveGanWeight(rec, tf.zeros([2]), { factor: 1 })).toBe(1e4);
    expect(adaptiveGanWeight(rec, tf.zeros([2]), { factor: 1, max: 50 })).toBe(50);
    expect(() => adaptiveGanWeight(rec, tf.zeros([3]), { factor: 1 })).toThrow(/shapes differ/);
    expect(() => adaptiveGanWeight(tf.tensor([Number.NaN]), tf.tensor([1]), { factor: 1 })).toThrow(
      /not finite/,
    );
  });

  it('works on real gradients w.r.t. a last layer', () => {
    const w = tf.variable(
      tf.tensor2d([
        [0.5, -1],
        [2, 0.25],
      ]),
    );
    const x = tf.tensor2d([[1, 2]]);
    const target = tf.tensor2d([[0, 1]]);
    const recGrad = tf.grad((v: tf.Tensor2D) => tf.mean(tf.square(tf.sub(tf.matMul(x, v), target))))(w);
    const ganGrad = tf.grad((v: tf.Tensor2D) => tf.neg(tf.mean(tf.matMul(x, v))))(w);
    // out = [4.5, -0.5]; d rec / dW = x^T (2 (out - t) / 2) = [[4.5, -1.5], [9, -3]]; d gan / dW = -x^T / 2
    const nr = Math.hypot(4.5, -1.5, 9, -3);
    const ng = Math.hypot(0.5, 0.5, 1, 1);
    expect(adaptiveGanWeight(recGrad, ganGrad, { factor: 0.1 })).toBeCloseTo((nr / (ng + 1e-4)) * 0.1, 5);
  });
});

/** Float64 NHWC conv, pad 1 each side, weights [4, 4, Cin, Cout] then bias. */
function convHost(
  x: Float64Array,
  shape: number[],
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  cout: number,
  stride: number,
) {
  const [n, h, wd, cin] = shape as [number, number, number, number];
  const ho = Math.floor((h + 2 - 4) / stride) + 1;
  const wo = Math.floor((wd + 2 - 4) / stride) + 1;
  const out = new Float64Array(n * ho * wo * cout);
  for (let bi = 0; bi < n; bi++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++)
        for (let o = 0; o < cout; o++) {
          let s = b[o]!;
          for (let ky = 0; ky < 4; ky++)
            for (let kx = 0; kx < 4; kx++) {
              const iy = oy * stride + ky - 1;
              const ix = ox * stride + kx - 1;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              for (let c = 0; c < cin; c++)
                s += x[((bi * h + iy) * wd + ix) * cin + c]! * w[((ky * 4 + kx) * cin + c) * cout + o]!;
            }
          out[((bi * ho + oy) * wo + ox) * cout + o] = s;
        }
  return { out, shape: [n, ho, wo, cout] };
}

function forwardHost(
  params: Map<string, tf.Tensor>,
  cfg: PatchGanConfig,
  x: Float64Array,
  shape: number[],
): Float64Array {
  let h = x;
  let s = shape;
  const layers = patchGanLayers(cfg);
  layers.forEach((l, i) => {
    const r = convHost(
      h,
      s,
      params.get(`${l.name}.weight`)!.dataSync() as Float32Array,
      params.get(`${l.name}.bias`)!.dataSync() as Float32Array,
      l.outChannels,
      l.stride,
    );
    h = i < layers.length - 1 ? r.out.map((v) => (v > 0 ? v : cfg.slope * v)) : r.out;
    s = r.shape;
  });
  return h;
}

const tiny: PatchGanConfig = { inChannels: 3, baseChannels: 4, downsamples: 2, slope: 0.2, initStd: 0.3 };

describe('PatchGAN discriminator', () => {
  it('layer plan follows VQGAN (channels double up to 8x base, two stride-1 convs at the end)', () => {
    const d = PatchGanDiscriminator.create(new Rng(1));
    expect(patchGanLayers(d.config).map((l) => [l.inChannels, l.outChannels, l.stride])).toEqual([
      [3, 64, 2],
      [64, 128, 2],
      [128, 256, 2],
      [256, 512, 1],
      [512, 1, 1],
    ]);
    expect([...d.params.keys()].slice(0, 2)).toEqual(['conv0.weight', 'conv0.bias']);
    expect(d.params.get('conv3.weight')!.shape).toEqual([4, 4, 256, 512]);
    // 32 px: 16, 8, 4 after the stride-2 convs, then 3 and 2.
    const y = tf.tidy(() => d.forward(tf.zeros([1, 32, 32, 3])));
    expect(y.shape).toEqual([1, 2, 2, 1]);
    y.dispose();
    d.dispose();
  });

  it('seeded init: same seed same weights, N(0, initStd) weights, zero biases', () => {
    const a = initPatchGan(PATCHGAN_TEST_BIG, new Rng(5));
    const b = initPatchGan(PATCHGAN_TEST_BIG, new Rng(5));
    const c = initPatchGan(PATCHGAN_TEST_BIG, new Rng(6));
    const w = a.get('conv1.weight')!.dataSync();
    expect([...w]).toEqual([...b.get('conv1.weight')!.dataSync()]);
    expect([...w]).not.toEqual([...c.get('conv1.weight')!.dataSync()]);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    expect([...a.get('conv1.bias')!.dataSync()].every((v) => v === 0)).toBe(true);
    for (const m of [a, b, c]) for (const v of m.values()) v.dispose();
  });

  it('forward matches a float64 host convolution', () => {
    const params = initPatchGan(tiny, new Rng(3));
    const xs = randn(11, 2 * 16 * 16 * 3);
    const y = tf.tidy(() => patchGanForward(params, tf.tensor4d(f32(xs), [2, 16, 16, 3]), tiny));
    expect(y.shape).toEqual([2, 2, 2, 1]); // 16 -> 8 -> 4 -> 3 -> 2
    const ref = forwardHost(params, tiny, xs, [2, 16, 16, 3]);
    const got = y.dataSync();
    ref.forEach((v, i) => {
      expect(got[i]).toBeCloseTo(v, 4);
    });
    y.dispose();
    for (const v of params.values()) v.dispose();
  });

  it('weight gradients on wasm equal the cpu backend and central differences of the host forward', async () => {
    const params = initPatchGan(tiny, new Rng(4));
    const xs = randn(12, 1 * 16 * 16 * 3);
    const grads = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(f32(xs), [1, 16, 16, 3]);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(patchGanForward(params, x, tiny)) as tf.Scalar,
          [...params.values()],
        );
        value.dispose();
        return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync() as Float32Array]));
      });
    expect(tf.getBackend()).toBe('wasm');
    const onWasm = grads();
    await tf.setBackend('cpu');
    const onCpu = grads();
    await tf.setBackend('wasm');
    for (const [k, g] of Object.entries(onWasm)) {
      const c = onCpu[k]!;
      g.forEach((v, i) => {
        expect(v).toBeCloseTo(c[i]!, 4);
      });
    }
    // Central differences in float64 on a few conv0 weights (the layer whose gradient needs the new kernel most).
    const w0 = params.get('conv0.weight')!;
    const base = Float64Array.from(w0.dataSync());
    const gw = onWasm[w0.name]!;
    for (const k of [0, 17, 95, 130]) {
      const f = (delta: number) => {
        const wv = Float64Array.from(base);
        wv[k]! += delta;
        return forwardHostF64(params, wv, xs);
      };
      const h = 1e-4;
      expect(gw[k]).toBeCloseTo((f(h) - f(-h)) / (2 * h), 3);
    }
    for (const v of params.values()) v.dispose();

    function forwardHostF64(p: Map<string, tf.Variable>, w0f64: Float64Array, x: Float64Array): number {
      // Same as forwardHost, but conv0's weights in float64 so the finite difference is not float32 noise.
      const layers = patchGanLayers(tiny);
      let h = x;
      let s = [1, 16, 16, 3];
      layers.forEach((l, i) => {
        const w = i === 0 ? w0f64 : p.get(`${l.name}.weight`)!.dataSync();
        const r = convHost(
          h,
          s,
          w,
          p.get(`${l.name}.bias`)!.dataSync() as Float32Array,
          l.outChannels,
          l.stride,
        );
        h = i < layers.length - 1 ? r.out.map((v) => (v > 0 ? v : tiny.slope * v)) : r.out;
        s = r.shape;
      });
      return h.reduce((a, v) => a + v, 0);
    }
  });

  it('saves to safetensors and loads back bit-exactly; bad files are named in the error', async () => {
    const d = PatchGanDiscriminator.create(new Rng(9), tiny);
    const host = d.toHost();
    const file = join(dir, 'disc.safetensors');
    await d.save(file);
    const e = await PatchGanDiscriminator.load(file, tiny);
    for (const [k, v] of d.params) expect([...e.params.get(k)!.dataSync()]).toEqual([...v.dataSync()]);
    // The file is plain safetensors: names, shapes and float32 data as the host arrays say.
    const reader = await SafetensorsReader.open(file);
    expect(reader.names().sort()).toEqual([...host.keys()].sort());
    expect(JSON.parse(reader.metadata.config!)).toEqual(tiny);
    expect([...(await reader.read('conv1.weight')).data]).toEqual([...host.get('conv1.weight')!.data]);
    await reader.close();

    const missing = Object.fromEntries([...host].filter(([k]) => k !== 'conv1.bias'));
    writeF32Safetensors(join(dir, 'missing.safetensors'), missing);
    await expect(loadPatchGan(tiny, join(dir, 'missing.safetensors'))).rejects.toThrow(
      /missing\.safetensors: missing tensor "conv1\.bias"/,
    );
    const before = tf.memory().numTensors;
    expect(() => patchGanFromHost({ ...tiny, baseChannels: 5 }, host, 'ckpt.safetensors')).toThrow(
      /ckpt\.safetensors: tensor "conv0\.weight" has shape \[4,4,3,4\], expected \[4,4,3,5\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(() => d.forward(tf.zeros([1, 16, 16, 1]))).toThrow(/1 channels, the discriminator expects 3/);
    d.dispose();
    e.dispose();
  });

  it('learns to separate two image distributions in a few steps (hinge)', () => {
    const d = PatchGanDiscriminator.create(new Rng(2), { ...tiny, initStd: 0.1 });
    const real = tf.tensor4d(f32(randn(21, 4 * 16 * 16 * 3).map((v) => 0.5 + 0.1 * v)), [4, 16, 16, 3]);
    const fake = tf.tensor4d(f32(randn(22, 4 * 16 * 16 * 3).map((v) => 0.5 + 0.4 * v)), [4, 16, 16, 3]);
    const opt = tf.train.adam(0.01);
    const loss = () => discriminatorLoss(d.forward(real), d.forward(fake), 'hinge');
    const first = tf.tidy(() => loss().dataSync()[0]!);
    for (let i = 0; i < 15; i++) opt.minimize(loss, false, d.variables());
    const last = tf.tidy(() => loss().dataSync()[0]!);
    expect(first).toBeGreaterThan(0.8);
    expect(last).toBeLessThan(first * 0.5);
    tf.dispose([real, fake]);
    opt.dispose();
    d.dispose();
  });
});

const PATCHGAN_TEST_BIG: PatchGanConfig = {
  inChannels: 3,
  baseChannels: 16,
  downsamples: 2,
  slope: 0.2,
  initStd: 0.02,
};
