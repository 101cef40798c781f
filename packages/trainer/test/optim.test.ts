import { selectBackend } from '@qlip/core';
import { installNativeKernels, nativeUnavailableReason, uninstallNativeKernels } from '@qlip/native-kernels';
import { FUSED_KERNELS } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm, defaultNoDecay, Ema } from '../src/index.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

/**
 * torch.optim.AdamW(lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.5) on p = [1, -2], with
 * gradients g1 = [0.5, -1], g2 = [0.1, 0.2], g3 = [-0.3, 0.4], steps written out by hand in float64:
 * this checks the decoupled decay order and the bias corrections independently of the implementation.
 */
function reference(): number[] {
  const gs = [
    [0.5, -1],
    [0.1, 0.2],
    [-0.3, 0.4],
  ];
  const p = [1, -2];
  const m = [0, 0];
  const v = [0, 0];
  gs.forEach((g, i) => {
    const t = i + 1;
    for (let j = 0; j < 2; j++) {
      p[j]! *= 1 - 0.1 * 0.5;
      m[j] = 0.9 * m[j]! + 0.1 * g[j]!;
      v[j] = 0.99 * v[j]! + 0.01 * g[j]! ** 2;
      const denom = Math.sqrt(v[j]!) / Math.sqrt(1 - 0.99 ** t) + 1e-8;
      p[j]! -= (0.1 / (1 - 0.9 ** t)) * (m[j]! / denom);
    }
  });
  return p;
}

describe('AdamW', () => {
  it('matches the torch update rule over three steps', async () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const params = new Map([['w', p]]);
    const opt = new AdamW({ beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.5 });
    for (const g of [
      [0.5, -1],
      [0.1, 0.2],
      [-0.3, 0.4],
    ]) {
      opt.apply(params, new Map([['w', tf.tensor1d(g)]]), 0.1);
    }
    const ref = reference();
    const got = await p.data();
    expect(got[0]).toBeCloseTo(ref[0]!, 5);
    expect(got[1]).toBeCloseTo(ref[1]!, 5);
    expect(opt.state.step).toBe(3);
  });

  it('gives the same result through the fused host loop on the cpu backend (scalar and matrix)', async () => {
    const run = async (backend: string) => {
      await selectBackend(backend);
      const [w, s] = tf.tidy(() => [
        tf.variable(tf.tensor2d([1, -2, 0.5, 3], [2, 2])),
        tf.variable(tf.scalar(2.5)),
      ]);
      const opt = new AdamW({
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weightDecay: 0.5,
        noDecay: (n) => n === 's',
      });
      const params = new Map([
        ['w', w],
        ['s', s],
      ]);
      for (const k of [1, -2, 0.5]) {
        const grads = new Map<string, tf.Tensor>([
          ['w', tf.tensor2d([k, -k, 2 * k, 0], [2, 2])],
          ['s', tf.scalar(k)],
        ]);
        opt.apply(params, grads, 0.1);
        tf.dispose([...grads.values()]);
      }
      const out = [...(await w.data()), ...(await s.data())];
      tf.dispose([w, s]);
      opt.dispose();
      return out;
    };
    const before = tf.memory().numTensors;
    const host = await run('cpu');
    expect(tf.memory().numTensors).toBe(before);
    const ops = await run('wasm');
    for (let i = 0; i < ops.length; i++) expect(host[i]).toBeCloseTo(ops[i]!, 6);
  });

  it.skipIf(nativeUnavailableReason())(
    'the fused native AdamW kernel equals the op-by-op chain bit for bit (decay, no decay, threaded size)',
    async () => {
      await selectBackend('wasm');
      const run = (fused: boolean) => {
        uninstallNativeKernels();
        if (fused) installNativeKernels();
        expect(tf.getKernel(FUSED_KERNELS.adamW, 'wasm') !== undefined).toBe(fused);
        const values = (n: number, seed: number) =>
          Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * (1 + (i % 7)));
        const params = new Map<string, tf.Variable>([
          ['big.weight', tf.variable(tf.tensor2d(values(300 * 200, 1), [300, 200]))], // threaded
          ['x.bias', tf.variable(tf.tensor1d(values(13, 2)))], // no decay
          ['logit_scale', tf.variable(tf.scalar(2.5))],
        ]);
        const opt = new AdamW({
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 0.05,
          noDecay: defaultNoDecay,
        });
        for (let step = 0; step < 3; step++) {
          const grads = new Map(
            [...params].map(([name, p]) => [name, tf.tensor(values(p.size, 10 + step), p.shape)] as const),
          );
          opt.apply(params, grads, 1e-3 * (step + 1));
          tf.dispose([...grads.values()]);
        }
        const out = [...params.values(), ...opt.state.m.values(), ...opt.state.v.values()].map((t) =>
          Array.from(t.dataSync()),
        );
        tf.dispose([...params.values()]);
        opt.dispose();
        return out;
      };
      const stock = run(false);
      const fused = run(true);
      uninstallNativeKernels();
      installNativeKernels(); // as the test setup left it
      expect(fused.length).toBe(9);
      for (let i = 0; i < stock.length; i++) expect(fused[i]).toEqual(stock[i]);
    },
  );

  it('skips decay for excluded names and leaves parameters without gradients untouched', async () => {
    const a = tf.variable(tf.tensor1d([1]));
    const b = tf.variable(tf.tensor1d([1]));
    const c = tf.variable(tf.tensor1d([5]));
    const params = new Map([
      ['x.bias', a],
      ['x.weight', b],
      ['frozen.weight', c],
    ]);
    const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, noDecay: defaultNoDecay });
    const zero = () => tf.tensor1d([0]);
    opt.apply(
      params,
      new Map([
        ['x.bias', zero()],
        ['x.weight', zero()],
      ]),
      1,
    );
    expect((await a.data())[0]).toBe(1);
    expect((await b.data())[0]).toBeCloseTo(0.9, 6);
    expect((await c.data())[0]).toBe(5);
    expect(() => opt.apply(params, new Map([['nope', zero()]]), 1)).toThrow(/unknown parameter "nope"/);
  });

  it('classifies parameter names for weight decay', () => {
    expect(defaultNoDecay('vision_model.encoder.layers.0.self_attn.q_proj.bias')).toBe(true);
    expect(defaultNoDecay('vision_model.encoder.layers.0.layer_norm1.weight')).toBe(true);
    expect(defaultNoDecay('text_model.embeddings.token_embedding.weight')).toBe(true);
    expect(defaultNoDecay('logit_scale')).toBe(true);
    expect(defaultNoDecay('vision_model.encoder.layers.0.mlp.w1.weight')).toBe(false);
  });
});

describe('clipByGlobalNorm', () => {
  it('rescales to the max norm and reports the original norm', async () => {
    const grads = new Map([
      ['a', tf.tensor1d([3, 0])],
      ['b', tf.tensor1d([0, 4])],
    ]);
    const { norm, grads: out } = clipByGlobalNorm(grads, 1);
    expect(norm).toBeCloseTo(5, 5);
    expect(Array.from(await out.get('a')!.data())[0]).toBeCloseTo(0.6, 5);
    expect(Array.from(await out.get('b')!.data())[1]).toBeCloseTo(0.8, 5);
  });

  it('leaves small gradients alone', () => {
    const grads = new Map([['a', tf.tensor1d([0.1])]]);
    const { grads: out } = clipByGlobalNorm(grads, 1);
    expect(out).toBe(grads);
  });
});

describe('Ema', () => {
  it('tracks decay * shadow + (1 - decay) * param', async () => {
    const p = tf.variable(tf.tensor1d([0]));
    const ema = new Ema(0.9, new Map([['p', p]]));
    p.assign(tf.tensor1d([10]));
    ema.update(new Map([['p', p]]));
    expect((await ema.shadow.get('p')!.data())[0]).toBeCloseTo(1, 5);
  });
});
